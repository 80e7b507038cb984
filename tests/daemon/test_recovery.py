"""What a new daemon starts of what the last one ran (issue 10, items 4 and 6).

After ``down`` the apps are held down: a daemon that a read (``status``,
``events``, ``logs``...) or any command other than ``up`` starts keeps them
down; ``up`` starts them again, and so does ``procward run`` (a service
manager or a container starting procward on purpose). After a crash of the
daemon (kill -9) what was running runs again, but ``crashed`` and ``exited``
instances stay as they were: those are decisions, not accidents.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._control import wait_exit
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, pid_of, state_of, wait_state

FAST = 'backoff = { initial = "50ms", multiplier = 2, max = "50ms" }\nmin_start = "0s"'


@pytest.mark.parametrize(
    "read", [["status"], ["events"], ["logs"], ["uptime"], ["ping"], ["list-apps"]]
)
def test_a_read_after_down_starts_no_app(
    cli: Callable[..., Result], paths: InstancePaths, load_apps: LoadApps, read: list[str]
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.web]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with Client.open(paths.socket) as client:
        wait_state(client, "web", "running")
    assert cli("down").code == 0
    if read == ["list-apps"]:  # the Python client starts a daemon too
        from procward import Client as PublicClient

        with PublicClient(paths=paths) as public:
            apps = public.call("list")
        status: dict[str, object] = {"apps": apps}
    else:
        result = cli(*read)
        assert result.code in (0, 1), result.err
        status = json.loads(cli("status", "--json").out)
    [app] = status["apps"]  # type: ignore[misc]
    assert app["instances"][0]["state"] == "stopped"
    assert app["held"] is True
    shown = cli("status")
    assert shown.code == 0, "held down is not 'meant to run and down'"
    assert "held down since `procward down`: web (`procward up` starts them)" in shown.out
    up = cli("up")
    assert up.code == 0 and "started again: web" in up.out
    with Client.open(paths.socket) as client:
        wait_state(client, "web", "running")
        assert client.call("getApp", name="web")["held"] is False
    assert cli("down").code == 0


def test_a_start_after_down_starts_that_app_only(
    cli: Callable[..., Result], paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.a]
        cmd = ["sleep", "1000"]
        {FAST}
        [apps.b]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    assert cli("down").code == 0
    assert cli("start", "a").code == 0
    with Client.open(paths.socket) as client:
        assert state_of(client, "a") == "running"
        assert state_of(client, "b") == "stopped"
        # a crash of this daemon now restarts `a`, and still not `b`
        daemon_pid = client.call("ping")["pid"]
    os.kill(daemon_pid, signal.SIGKILL)
    assert wait_exit(daemon_pid, 5)
    with Client.open(_respawned(cli, paths)) as client:
        wait_state(client, "a", "running")
        assert state_of(client, "b") == "stopped"
    assert cli("down").code == 0


def test_run_in_the_foreground_starts_what_down_held(
    cli: Callable[..., Result], paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
    """)
    assert cli("down").code == 0
    run = subprocess.Popen(
        [sys.executable, "-m", "procward", "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: os.path.exists(paths.socket), what="the daemon")
        with Client.open(paths.socket) as client:
            wait_state(client, "web", "running")
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(30) == 0


def test_a_crashed_app_stays_crashed_after_a_kill_9_of_the_daemon(
    cli: Callable[..., Result], paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.crasher]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 1
        {FAST}
        [apps.job]
        cmd = ["true"]
        {FAST}
        [apps.web]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with Client.open(paths.socket) as client:
        wait_state(client, "crasher", "crashed")
        wait_state(client, "job", "exited")
        wait_state(client, "web", "running")
        wait_for(lambda: _saved_state(paths, "crasher") == "crashed", what="the save")
        wait_for(lambda: _saved_state(paths, "job") == "exited", what="the save")
        restarts = app_instances(client, "crasher")[0]["restarts"]
        old_web = pid_of(client, "web")
        daemon_pid = client.call("ping")["pid"]
    os.kill(daemon_pid, signal.SIGKILL)
    assert wait_exit(daemon_pid, 5)
    with Client.open(_respawned(cli, paths)) as client:
        wait_state(client, "web", "running")
        assert pid_of(client, "web") != old_web
        [crasher] = app_instances(client, "crasher")
        assert crasher["state"] == "crashed"
        assert crasher["restarts"] == restarts
        assert crasher["exit_code"] == 3
        assert state_of(client, "job") == "exited"
        events = client.call("getEvents", name="crasher", limit=100)
        assert not [e for e in events if e["to"] == "starting" and e["time"] > _started(client)]
    result = cli("start", "crasher")  # an operator's start tries again
    with Client.open(paths.socket) as client:
        wait_for(
            lambda: app_instances(client, "crasher")[0]["restarts"] > restarts, what="a new try"
        )
    assert result.code in (0, 1)
    assert cli("down").code == 0


def _respawned(cli: Callable[..., Result], paths: InstancePaths) -> str:
    assert cli("ping").code == 0  # any command starts a new daemon
    return paths.socket


def _started(client: Client) -> float:
    status = client.call("status")
    return float(status["daemon"]["started_at"])


def _saved_state(paths: InstancePaths, name: str) -> str | None:
    try:
        with open(paths.state) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    for app in saved["apps"]:
        if app["spec"]["name"] == name:
            return str(app["instances"][0]["state"])
    return None


def test_a_removed_state_file_is_written_again_at_the_baseline(
    home: str, paths: InstancePaths
) -> None:
    # The seed's baseline flush (every 30 s; 0.2 s here): a state file removed
    # behind the daemon's back comes back without waiting for a change.
    code = (
        "from procward.daemon.service import ProcwardDaemon as D\n"
        "D.state_flush_interval = 0.2\n"
        "raise SystemExit(D().run())\n"
    )
    run = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(paths.state), what="the first save")
        with open(paths.state) as f:
            first = json.load(f)["saved_at"]
        os.unlink(paths.state)
        wait_for(lambda: os.path.exists(paths.state), what="the baseline save")
        with open(paths.state) as f:
            assert json.load(f)["saved_at"] > first
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(30) == 0
