"""`procward uptime`: the history a real daemon keeps, across restarts and bad files."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams, NotFound
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, pid_of, wait_state

APPS = """
    [apps.srv]
    cmd = ["sleep", "1000"]
    min_start = "0s"
    backoff = { initial = "300ms", multiplier = 1, max = "300ms" }

    [apps.idle]
    cmd = ["sleep", "1000"]
    autostart = false
"""


def today(daemon: Client, name: str) -> dict[str, Any]:
    [app] = daemon.call("getUptime", name=name, days=1)["apps"]
    day: dict[str, Any] = {**app["days"][-1], "uptime": app["uptime"], "now": app["now"]}
    return day


def test_a_crash_counts_as_down_until_the_app_runs_again(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps(APPS)
    wait_state(daemon, "srv", "running")
    wait_for(lambda: today(daemon, "srv")["up"] >= 0.2, what="some time up")
    os.kill(pid_of(daemon, "srv"), signal.SIGKILL)
    wait_for(lambda: today(daemon, "srv")["now"] == "down", what="srv counted down")
    wait_state(daemon, "srv", "running")
    srv = today(daemon, "srv")
    assert srv["now"] == "up"
    assert 0.25 <= srv["down"] <= 2.0  # the 300 ms backoff, and a little
    assert 0 < srv["uptime"] < 1
    idle = today(daemon, "idle")  # never meant to run: not counted at all
    assert (idle["up"], idle["now"], idle["uptime"]) == (None, None, None)


def test_a_stopped_app_is_not_counted(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(APPS)
    wait_state(daemon, "srv", "running")
    daemon.call("stopApp", name="srv")
    before = today(daemon, "srv")
    assert before["now"] is None and before["down"] < 0.5
    daemon.call("startApp", name="idle")  # as a clock: time passes for it, not for srv
    wait_for(lambda: (today(daemon, "idle")["up"] or 0) >= 0.3, what="time to pass")
    after = today(daemon, "srv")
    assert (after["up"], after["down"]) == (before["up"], before["down"])


def test_the_history_survives_a_restart_of_the_daemon(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps(APPS)
    wait_state(daemon, "srv", "running")
    wait_for(lambda: today(daemon, "srv")["up"] >= 0.3, what="some time up")
    assert cli("down").code == 0
    with open(os.path.join(paths.state_dir, "uptime.json")) as f:
        saved = json.load(f)["apps"]["srv"]
    [seconds] = saved.values()
    assert seconds[0] >= 0.3
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        wait_state(again, "srv", "running")
        # The time the daemon was down is not downtime, and nothing was lost.
        srv = today(again, "srv")
        assert srv["up"] >= seconds[0] and srv["down"] == seconds[2]


def test_an_unreadable_history_starts_a_new_one(
    cli: Callable[..., Result], paths: InstancePaths
) -> None:
    os.makedirs(paths.state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(paths.state_dir, "uptime.json")
    for name in (path, path + ".bak"):
        with open(name, "w") as f:
            f.write('{"format": 1, "apps": {"web": {"1": "lots"}}}')
    assert cli("up").code == 0
    try:
        with Client.open(paths.socket) as client:
            assert client.call("getUptime")["apps"] == []
        with open(paths.daemon_log) as log:
            assert "uptime history unreadable, starting a new one" in log.read()
    finally:
        assert cli("down").code == 0


def test_mistakes_and_the_cli(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load_apps(APPS)
    wait_state(daemon, "srv", "running")
    with pytest.raises(NotFound, match="no app named 'nope'"):
        daemon.call("getUptime", name="nope")
    with pytest.raises(InvalidParams, match=r"days must be 1..90, got 91"):
        daemon.call("getUptime", days=91)
    shown = cli("uptime", "--days", "7")
    assert shown.code == 0, shown.err
    header, *rows = shown.out.splitlines()
    assert header.split()[:3] == ["NAME", "UPTIME", "7d"]
    srv = next(r for r in rows if r.startswith("srv"))
    assert srv.split()[2] == "up" and srv.split()[3].startswith("······")


def test_a_deleted_app_leaves_the_report(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps(APPS)
    wait_state(daemon, "srv", "running")
    wait_for(lambda: (today(daemon, "srv")["up"] or 0) > 0, what="some time up")
    daemon.call("deleteApp", name="srv")
    assert [app["name"] for app in daemon.call("getUptime")["apps"]] == ["idle"]
    with pytest.raises(NotFound, match="no app named 'srv'"):
        daemon.call("getUptime", name="srv")
    assert "srv" not in cli("uptime").out
    assert cli("down").code == 0  # saved without it: not back after a restart
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        assert [app["name"] for app in again.call("getUptime")["apps"]] == ["idle"]
