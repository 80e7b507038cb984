"""The bench summary: rows against the best peer, the Markdown table, the chart's speedups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bench.chart import NO_PAIRS, render
from bench.measure import Summary
from bench.scenarios import Comparison
from bench.summary import markdown, speedups, summary_rows


def s(median: float) -> Summary:
    return Summary(5, median * 0.9, median, median * 1.1)


COLD = Comparison(
    "cold start, 500 apps",
    "ms",
    True,
    {"procward": s(120.0), "supervisord": s(900.0), "circus": s(600.0), "pm2": s(2400.0)},
)
THROUGHPUT = Comparison(
    "log throughput",
    "MB/s",
    False,
    {"procward": s(250.0), "supervisord": s(40.0), "circus": s(80.0), "pm2": s(20.0)},
)
RSS = Comparison(  # procward behind; circus missing
    "daemon RSS, 10 apps",
    "MiB",
    True,
    {"procward": s(20.8), "supervisord": s(20.0), "pm2": s(55.0)},
)
IDLE = Comparison(  # a zero peer median, lower is better
    "idle CPU", "%", True, {"procward": s(0.001), "supervisord": s(0.0), "circus": s(0.02)}
)
ALONE = Comparison("RPC round trip, p50", "µs", True, {"procward": s(19.5)})


def test_lower_is_better_picks_the_lowest_peer() -> None:
    (row,) = summary_rows([COLD])
    assert row.subject == s(120.0)
    assert set(row.peers) == {"supervisord", "circus", "pm2"}
    assert row.best_peer == "circus"
    assert row.ratio == pytest.approx(0.2)
    assert row.ahead is True


def test_higher_is_better_picks_the_highest_peer() -> None:
    (row,) = summary_rows([THROUGHPUT])
    assert row.best_peer == "circus"
    assert row.ratio == pytest.approx(250 / 80)
    assert row.ahead is True


def test_missing_peer_and_behind() -> None:
    (row,) = summary_rows([RSS])
    assert set(row.peers) == {"supervisord", "pm2"}
    assert row.best_peer == "supervisord"
    assert row.ratio == pytest.approx(1.04)
    assert row.ahead is False


def test_zero_peer_median_has_no_ratio_and_compares_medians() -> None:
    (row,) = summary_rows([IDLE])
    assert row.best_peer == "supervisord"
    assert row.ratio is None
    assert row.ahead is False
    tied = Comparison("idle CPU", "%", True, {"procward": s(0.0), "supervisord": s(0.0)})
    (level,) = summary_rows([tied])
    assert level.ratio is None
    assert level.ahead is False
    assert level.level


def test_no_peer() -> None:
    (row,) = summary_rows([ALONE])
    assert row.peers == {}
    assert row.best_peer is None
    assert row.ratio is None
    assert row.ahead is None


def test_missing_subject() -> None:
    (row,) = summary_rows([Comparison("x", "ms", True, {"circus": s(3.0)})])
    assert row.subject is None
    assert row.best_peer == "circus"
    assert row.ratio is None
    assert row.ahead is None


def test_markdown_table() -> None:
    lines = markdown(summary_rows([COLD, THROUGHPUT, RSS, IDLE, ALONE]))
    assert lines[0] == "## Summary: procward against the best peer"
    assert lines[2] == (
        "| what | procward | supervisord | circus | pm2 | best peer | procward / best | verdict |"
    )
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines if "|" in line}
    assert rows["cold start, 500 apps"] == (
        "| cold start, 500 apps | 120 ms | 900 ms | 600 ms | 2400 ms | circus | 0.20x | ahead |"
    )
    assert rows["log throughput"] == (
        "| log throughput | 250 MB/s | 40.0 MB/s | 80.0 MB/s | 20.0 MB/s | circus | 3.12x | ahead |"
    )
    assert rows["daemon RSS, 10 apps"] == (
        "| daemon RSS, 10 apps | 20.8 MiB | 20.0 MiB | — | 55.0 MiB | supervisord | 1.04x"
        " | **behind** |"
    )
    assert rows["idle CPU"] == (
        "| idle CPU | 0.001 % | 0.000 % | 0.020 % | — | supervisord | — | **behind** |"
    )
    assert rows["RPC round trip, p50"] == (
        "| RPC round trip, p50 | 19.5 µs | — | — | — | — | — | — |"
    )
    notes = [line for line in lines if line.startswith("- ")]
    assert "below 1 is better where lower is better" in notes[0]
    assert "above 1 where higher is better" in notes[0]
    assert notes[1] == (
        "- procward ahead of the best peer on 2 of 4 rows;"
        " behind on: daemon RSS, 10 apps (1.04x); idle CPU (0.001 % vs 0.000 %);"
        " 1 rows without a peer to compare."
    )


def test_markdown_all_ahead() -> None:
    lines = markdown(summary_rows([COLD, THROUGHPUT]))
    assert lines[-1] == "- procward ahead of the best peer on 2 of 2 rows."


def test_markdown_level() -> None:
    tied = Comparison("idle CPU", "%", True, {"procward": s(0.0), "circus": s(0.0)})
    lines = markdown(summary_rows([tied, COLD]))
    assert any(line.endswith("| circus | — | level |") for line in lines)
    assert lines[-1] == "- procward ahead of the best peer on 1 of 2 rows; level on: idle CPU."


def test_speedups_are_oriented_so_above_one_means_procward_better() -> None:
    result = dict(speedups(summary_rows([COLD, THROUGHPUT, RSS, IDLE, ALONE])))
    assert result["cold start, 500 apps"] == pytest.approx(
        {"supervisord": 7.5, "circus": 5.0, "pm2": 20.0}
    )
    assert result["log throughput"] == pytest.approx(
        {"supervisord": 6.25, "circus": 3.125, "pm2": 12.5}
    )
    assert result["daemon RSS, 10 apps"] == pytest.approx(
        {"supervisord": 20.0 / 20.8, "pm2": 55.0 / 20.8}
    )
    assert result["idle CPU"] == pytest.approx({"circus": 20.0})  # the zero peer is skipped
    assert "RPC round trip, p50" not in result  # no peer


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    rows = summary_rows([COLD, THROUGHPUT, RSS, IDLE, ALONE])
    assert render(rows, path, "procward benchmark", "machine x, 2024-01-01") is None
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_chart_without_pairs_explains(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    assert render(summary_rows([ALONE]), path, "t", "s") == NO_PAIRS
    assert not path.exists()


def test_chart_without_matplotlib_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = tmp_path / "bench.png"
    problem = render(summary_rows([COLD]), path, "t", "s")
    assert problem == "matplotlib is not installed: no chart (pip install '.[bench]')"
    assert not path.exists()


def test_importing_the_summary_does_not_import_matplotlib() -> None:
    code = "import sys, bench.summary, bench.chart; sys.exit('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False)
    assert done.returncode == 0
