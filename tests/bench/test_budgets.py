"""``make bench-check``: the committed file reads, and a row is judged by its margin."""

from __future__ import annotations

from pathlib import Path

from bench.measure import Summary
from bench.scenarios import Comparison

from bench import budgets


def test_the_committed_budgets_name_rows_the_bench_makes() -> None:
    rows = budgets.load()
    assert rows and all(row.median > 0 for row in rows), "a row without its figure"
    made = {
        "`ping` from the shell",
        "`status` from the shell, 500 apps",
        "daemon RSS, 10 apps",
        "daemon RSS, 500 apps",
        "kill -9 → new child started",
        "crash storm: RSS growth after the first minute",
    }
    assert {row.what for row in rows} <= made


def test_worse_than_the_margin_fails_and_a_missing_row_fails(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(
        "margin = 0.25\n"
        '[[row]]\nwhat = "a"\nmedian = 10.0\n'
        '[[row]]\nwhat = "b"\nmedian = 0.1\nfloor = 0.5\n'
        '[[row]]\nwhat = "c"\nmedian = 1.0\n'
    )
    rows = budgets.load(path)

    def measured(what: str, value: float) -> Comparison:
        return Comparison(what, "ms", True, {"procward": Summary.of([value])})

    verdicts = budgets.judge(rows, [measured("a", 12.4), measured("b", 0.55)])
    assert [v.ok for v in verdicts] == [True, True, False]  # c was not measured
    verdicts = budgets.judge(rows, [measured("a", 12.6), measured("b", 0.7)])
    assert [v.ok for v in verdicts[:2]] == [False, False]
    assert "WORSE" in budgets.render(verdicts) and "MISSING" in budgets.render(verdicts)
