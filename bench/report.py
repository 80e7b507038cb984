"""Markdown rendering of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.scenarios import Check, Section, mark


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    machine: Sequence[tuple[str, str]]
    reproduce: str  # shell command, run from the repository root
    sections: Sequence[Section]
    method: Sequence[str]
    warnings: Sequence[str] = ()
    summary: Sequence[str] = ()  # Markdown lines of the summary section, first after the machine
    chart: str | None = None  # file name of the PNG chart, beside the report

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        lines += [*table(["machine", ""], [[k, v] for k, v in self.machine]), ""]
        lines += ["Reproduce (from the repository root):", "", "```sh", self.reproduce, "```", ""]
        if self.summary:
            lines += [*self.summary, ""]
        if self.chart:
            lines += [f"![procward against each peer, times better]({self.chart})", ""]
        for section in self.sections:
            lines += _section(section)
        lines += _summary([c for s in self.sections for c in s.checks])
        if self.warnings:
            lines += ["## Warnings", ""] + [f"- {w}" for w in self.warnings] + [""]
        lines += ["## Method", ""] + [f"- {m}" for m in self.method] + [""]
        return "\n".join(lines)


def _section(section: Section) -> list[str]:
    lines = [f"## {section.title}", ""]
    lines += [*table(section.headers, section.rows), ""]
    lines += [f"- {note}" for note in section.notes]
    return [*lines, ""] if section.notes else lines


def _summary(checks: Sequence[Check]) -> list[str]:
    failed = sum(not c.ok for c in checks)
    verdict = "all budgets met" if not failed else f"{failed} of {len(checks)} budgets missed"
    lines = [f"## Budgets: {verdict}", ""]
    rows = [[c.what, c.measured, c.budget, mark(c.ok)] for c in checks]
    return [*lines, *table(["check", "measured", "budget", "result"], rows), ""]
