"""The reload-under-load scenario: its rows, each system's best way, and the app it reloads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from bench.httpload import Outcome, Tally, get
from bench.reload_load import WayResult, best_of_each, row, section, wait_answering
from bench.reload_ways import APP
from bench.summary import summary_rows

from bench import procs, reload_load
from procward.kit.testing import free_port


def result(label: str, system: str, failed: int, p99: float | None) -> WayResult:
    failures = {Outcome.REFUSED: failed} if failed else {}
    tally = Tally(total=1000, failures=failures, p99=p99, max=None if p99 is None else 2 * p99)
    return WayResult(label, system, f"`{label}`", tally, (0.5, 0.25, 1.0))


def test_a_row_shows_requests_failures_latency_and_reload_times() -> None:
    restart = result("supervisord, restart", "supervisord", 250, 0.0031)
    assert row(restart) == [
        "supervisord, restart",
        "`supervisord, restart`",
        "3",
        "1000",
        "250 (refused 250)",
        "25.00 %",
        "3.1 ms",
        "6.2 ms",
        "0.50 s",
        "1.00 s",
    ]
    nothing_good = result("x", "x", 1000, None)
    assert row(nothing_good)[6:8] == ["—", "—"]


def test_each_system_counts_with_its_best_way() -> None:
    restart = result("supervisord, restart", "supervisord", 250, 0.003)
    hup = result("supervisord + gunicorn, HUP", "supervisord", 0, 0.010)
    surge = result("procward, surge", "procward", 0, 0.006)
    rolling = result("procward, rolling", "procward", 0, 0.005)  # as few failed, lower p99
    best = best_of_each([surge, rolling, restart, hup])
    assert best == {"procward": rolling, "supervisord": hup}


def test_the_section_has_a_row_per_way_and_summary_rows_per_system() -> None:
    ways = [
        result("procward, surge", "procward", 0, 0.006),
        result("supervisord, restart", "supervisord", 250, 0.003),
        result("pm2", "pm2", 6, 0.031),
    ]
    out = section(ways, reloads=5)
    assert [r[0] for r in out.rows] == ["procward, surge", "supervisord, restart", "pm2"]
    (failed,) = summary_rows(out.comparisons)
    assert failed.subject is not None and failed.subject.median == 0
    assert failed.best_peer == "pm2" and failed.ahead


def test_the_app_answers_is_seen_as_a_child_then_exits_0_on_sigterm() -> None:
    port = free_port()
    app = subprocess.Popen([sys.executable, str(APP), "--port", str(port)])
    try:
        wait_answering(port)
        assert get(port) is Outcome.OK
        assert procs.proc(app.pid) in procs.children(os.getpid())  # how ways find workers
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=5) == 0
    finally:
        app.kill()
        app.wait()


def test_a_way_whose_socket_times_out_is_a_warning_and_the_others_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Way:
        warnings: list[str] = []

        def __init__(self, label: str) -> None:
            self.label = label

        def __enter__(self) -> Way:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    measured: list[str] = []

    def measure(way: Way, reloads: int) -> None:
        measured.append(way.label)
        raise TimeoutError("timed out")

    monkeypatch.setattr(reload_load, "measure", measure)
    monkeypatch.setattr(reload_load, "section", lambda results, reloads: results)
    ways = [("a", lambda env: Way("a")), ("b", lambda env: Way("b"))]
    results, warnings = reload_load.reload_under_load(ways, {}, 5)
    assert measured == ["a", "b"] and results == []
    assert warnings == [f"reload under load, {x}: not measured: timed out" for x in "ab"]
