"""A spawned process is ``running`` at once; ``min_start`` is its probation (decision 0050)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances


def test_status_shows_running_at_once_and_the_probation_until_min_start(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    loaded = time.monotonic()
    load_apps('[apps.web]\ncmd = ["sleep", "1000"]\nmin_start = "2s"\n')
    inst = wait_for(lambda: (i := app_instances(daemon, "web")[0])["pid"] and i, what="a pid")
    assert inst["state"] == "running" and inst["proven"] is False
    assert "starting: not yet up for its min_start" in cli("status").out
    wait_for(lambda: "proven" not in app_instances(daemon, "web")[0], timeout=5, what="proven")
    assert time.monotonic() - loaded >= 2.0
    assert "min_start" not in cli("status").out
    events = [(e["from"], e["to"]) for e in daemon.call("getEvents", name="web")]
    assert events == [("stopped", "starting"), ("starting", "running")]


def test_a_dependent_starts_after_its_dependencys_probation(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    load_apps(f"""
        [apps.db]
        cmd = ["sh", "-c", "date +%s.%N > {home}/db; exec sleep 1000"]
        min_start = "1s"

        [apps.web]
        cmd = ["sh", "-c", "date +%s.%N > {home}/web; exec sleep 1000"]
        depends_on = ["db"]
    """)
    wait_for(lambda: os.path.exists(f"{home}/web"), timeout=10, what="web started")
    with open(f"{home}/db") as f, open(f"{home}/web") as g:
        assert float(g.read()) - float(f.read()) >= 0.9  # db's min_start, less the clocks' grain


def test_an_exit_in_the_probation_goes_to_the_restart_policy(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.flaky]
        cmd = ["sh", "-c", "sleep 0.2; exit 3"]
        min_start = "1s"
        max_restarts = 1
        backoff = { initial = "100ms" }
    """)
    wait_for(lambda: app_instances(daemon, "flaky")[0]["state"] == "crashed", what="crashed")
    inst = app_instances(daemon, "flaky")[0]
    assert inst["exit_code"] == 3 and inst["restarts"] == 1 and "proven" not in inst
    moves = [(e["from"], e["to"]) for e in daemon.call("getEvents", name="flaky")]
    assert moves == [
        ("stopped", "starting"),
        ("starting", "running"),
        ("running", "backoff"),
        ("backoff", "starting"),
        ("starting", "running"),
        ("running", "crashed"),
    ]
