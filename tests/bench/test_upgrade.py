"""The supervisor-upgrade scenario's pure helpers, and its summary rows with a zero median."""

from __future__ import annotations

import os

from bench.measure import Summary
from bench.procs import Proc, proc
from bench.runner import parse
from bench.scenarios import Comparison
from bench.summary import markdown, speedups, summary_rows, times, verdict
from bench.systems import InstanceView
from bench.upgrade import kept_label, restarted_apps


def view(app: str, pid: int | None) -> InstanceView:
    return InstanceView(app, 0, "running", pid, 0)


def test_restarted_apps_counts_other_pids_and_dead_processes() -> None:
    me = proc(os.getpid())
    assert me is not None
    recycled = Proc(me.pid, me.starttime + 1)  # same pid, another process
    before = {("a", 0): me, ("b", 0): me, ("c", 0): recycled, ("d", 0): None}
    after = [view("a", me.pid), view("b", me.pid + 1), view("c", me.pid), view("d", me.pid)]
    assert restarted_apps(before, after) == 3
    assert restarted_apps(before, [view("e", me.pid)]) == 1  # an app not seen before
    assert restarted_apps(before, [view("a", me.pid)]) == 0


def test_kept_label() -> None:
    assert kept_label([True, True, True]) == "yes"
    assert kept_label([False, False]) == "no"
    assert kept_label([True, False, True]) == "2 of 3"


def test_a_zero_subject_median_is_ahead_with_a_zero_ratio() -> None:
    zero, ten = Summary(3, 0.0, 0.0, 0.0), Summary(3, 10.0, 10.0, 10.0)
    restarts = Comparison(
        "apps restarted by a supervisor upgrade, 10 apps",
        "apps",
        True,
        {"procward": zero, "supervisord": ten, "circus": ten, "pm2": ten},
    )
    (row,) = summary_rows([restarts])
    assert row.ratio == 0.0
    assert row.ahead is True
    assert times(row.ratio) == "0.00x"
    assert verdict(row) == "ahead"
    assert "| 0.00x | ahead |" in "\n".join(markdown([row]))
    assert speedups([row]) == []  # no finite factor over zero: left out of the chart


def test_only_upgrade() -> None:
    cfg = parse(["--only", "upgrade"])
    assert cfg.parts == ("upgrade",)
    assert cfg.peers
    assert cfg.plan.upgrade_runs >= 3
    quick = parse(["--quick"])
    assert "upgrade" in quick.parts
    assert not quick.peers
