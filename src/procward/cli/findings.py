"""What ``procward doctor`` finds: one record per finding, and the report people read.

A finding is a *problem* (exit status 1) when procward does not work as it
should until someone acts, and then it carries the command or the change
that fixes it; an *info* when it is a choice or a fact of the host (cgroups
turned off, no systemd here) worth knowing; *ok* otherwise, so that the
output shows what was looked at.
"""

from __future__ import annotations


class Finding:
    """One line of the report: which check, how bad, what is so, and the fix."""

    __slots__ = ("check", "fix", "level", "text")

    def __init__(self, check: str, level: str, text: str, fix: str = "") -> None:
        self.check = check
        self.level = level  # "ok", "info" or "problem"
        self.text = text
        self.fix = fix

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "text": self.text, "fix": self.fix}

    def __repr__(self) -> str:
        return f"Finding({self.check!r}, {self.level!r}, {self.text!r}, fix={self.fix!r})"


def ok(check: str, text: str) -> Finding:
    return Finding(check, "ok", text)


def info(check: str, text: str, fix: str = "") -> Finding:
    return Finding(check, "info", text, fix)


def problem(check: str, text: str, fix: str) -> Finding:
    return Finding(check, "problem", text, fix)


LABELS = {"ok": "ok", "info": "info", "problem": "PROBLEM"}


def report(findings: list[Finding]) -> None:
    """One line per finding, its fix on the next; a count of problems at the end."""
    width = max(len(label) for label in LABELS.values())
    for finding in findings:
        print(f"{LABELS[finding.level]:<{width}}  {finding.check}: {finding.text}")
        if finding.fix:
            print(f"{'':<{width}}  fix: {finding.fix}")
    problems = sum(finding.level == "problem" for finding in findings)
    print(f"{problems} problem{'s' if problems != 1 else ''}" if problems else "no problems")
