"""``make bench-check``: the quick run's procward rows against ``bench/budgets.toml``.

A regression should show up with the change that causes it, not weeks
later in a full run. The committed file holds, for a few rows only procward
has to answer for, the median of a quiet quick run on this machine class;
a row whose median is worse by more than its margin fails the check (exit 1).
Not run in CI: timings on a shared runner are too noisy to gate on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import table
from bench.scenarios import Comparison

BUDGETS = Path(__file__).with_name("budgets.toml")


@dataclass(frozen=True, slots=True)
class Budget:
    what: str  # a Comparison's ``what``: "`status` from the shell, 500 apps"
    median: float  # the committed figure, in the row's unit
    margin: float  # how much worse counts: 0.25 is 25 %
    floor: float  # and at least this much worse, in the unit (a row near zero)


@dataclass(frozen=True, slots=True)
class Verdict:
    budget: Budget
    measured: float | None  # None: the row was not in this run
    unit: str

    @property
    def limit(self) -> float:
        b = self.budget
        return max(b.median * (1 + b.margin), b.median + b.floor)

    @property
    def ok(self) -> bool:
        return self.measured is not None and self.measured <= self.limit


def load(path: Path = BUDGETS) -> list[Budget]:
    data = tomllib.loads(path.read_text())
    margin = float(data.get("margin", 0.25))
    return [
        Budget(
            str(row["what"]),
            float(row["median"]),
            float(row.get("margin", margin)),
            float(row.get("floor", 0.0)),
        )
        for row in data["row"]
    ]


def judge(budgets: Sequence[Budget], comparisons: Sequence[Comparison]) -> list[Verdict]:
    """Each budget against procward's median in this run (every row: lower is better)."""
    found = {c.what: c for c in comparisons if "procward" in c.values}
    verdicts = []
    for budget in budgets:
        row = found.get(budget.what)
        measured = row.values["procward"].median if row is not None else None
        verdicts.append(Verdict(budget, measured, row.unit if row is not None else ""))
    return verdicts


def render(verdicts: Sequence[Verdict]) -> str:
    rows = [
        [
            v.budget.what,
            f"{v.budget.median:g} {v.unit}",
            f"{v.limit:.3g} {v.unit}",
            f"{v.measured:.3g} {v.unit}" if v.measured is not None else "not measured",
            "ok" if v.ok else "WORSE" if v.measured is not None else "MISSING",
        ]
        for v in verdicts
    ]
    return "\n".join(table(["row", "committed", "fails above", "this run", ""], rows))
