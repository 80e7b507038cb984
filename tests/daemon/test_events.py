"""`procward events`: the history of every instance, and following it live."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._errors import NotFound
from procward.kit._paths import InstancePaths

from ..conftest import Result
from .conftest import (
    LoadApps,
    kill_and_wait_restart,
    pid_of,
    start_sleeper,
    wait_state,
)

FAST = 'backoff = { initial = "50ms", multiplier = 2, max = "200ms" }\nmin_start = "0s"'


def changes(daemon: Client, name: str) -> list[tuple[str, str, str | None]]:
    return [(e["from"], e["to"], e["why"]) for e in daemon.call("getEvents", name=name)]


def test_a_crash_and_its_restart_are_in_the_history(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load_apps(f"""
        [apps.srv]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    wait_state(daemon, "srv", "running")
    first = kill_and_wait_restart(daemon, "srv")
    assert changes(daemon, "srv") == [
        ("stopped", "starting", None),
        ("starting", "running", None),
        ("running", "backoff", "killed by SIGKILL"),
        ("backoff", "starting", None),
        ("starting", "running", None),
    ]
    crash = daemon.call("getEvents", name="srv")[2]
    assert crash["pid"] == first and crash["app"] == "srv" and crash["instance"] == 0
    shown = cli("events", "srv", "-n", "3")
    assert shown.code == 0 and "srv:0  running -> backoff" in shown.out
    assert "killed by SIGKILL" in shown.out and len(shown.out.splitlines()) == 3


def test_following_events_sees_new_ones(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    start_sleeper(daemon, load_apps)
    with Client.open(paths.socket) as watcher:
        stream = watcher.stream("followEvents", name="srv")
        assert next(stream) == ("following", {"events": "srv"})
        daemon.call("stopApp", name="srv")
        method, event = next(stream)
        assert method == "event" and (event["from"], event["to"]) == ("running", "stopping")
        method, event = next(stream)
        assert (event["from"], event["to"], event["why"]) == (
            "stopping",
            "stopped",
            "killed by SIGTERM",
        )


def test_a_quiet_stream_outlasts_the_connections_timeout(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    # `logs -f` of a quiet app once died after 30 s: "the daemon did not answer in time".
    start_sleeper(daemon, load_apps)
    with Client.open(paths.socket, timeout=0.2) as watcher:
        stream = watcher.stream("followEvents", name="srv")
        assert next(stream) == ("following", {"events": "srv"})
        later = threading.Timer(1.0, daemon.call, ("stopApp",), {"name": "srv"})
        later.start()
        try:
            method, event = next(stream)  # five timeouts' worth of silence first
        finally:
            later.join()
        assert method == "event" and event["to"] == "stopping"


def test_events_of_an_unknown_app_are_not_found(daemon: Client) -> None:
    with pytest.raises(NotFound, match="no app named 'nope'"):
        daemon.call("getEvents", name="nope")


def test_the_history_outlives_a_restart_of_the_daemon(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps(f"""
        [apps.srv]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    wait_state(daemon, "srv", "running")
    kill_and_wait_restart(daemon, "srv")
    assert cli("down").code == 0
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        wait_state(again, "srv", "running")
        seen = changes(again, "srv")
    assert ("running", "backoff", "killed by SIGKILL") in seen  # from before the restart
    assert seen[-2:] == [("stopped", "starting", None), ("starting", "running", None)]


def test_an_unreadable_history_is_logged_and_a_new_one_begins(
    cli: Callable[..., Result], paths: InstancePaths
) -> None:
    os.makedirs(paths.state_dir, mode=0o700, exist_ok=True)
    for name in ("events.json", "events.json.bak"):
        with open(os.path.join(paths.state_dir, name), "w") as f:
            f.write("{not json")
    assert cli("up").code == 0
    try:
        with Client.open(paths.socket) as client:
            assert client.call("getEvents") == []
        with open(paths.daemon_log) as log:
            assert "events history unreadable, starting a new one" in log.read()
    finally:
        assert cli("down").code == 0


def history(daemon: Client, name: str) -> list[tuple[str, str, int | None, str | None]]:
    return [(e["from"], e["to"], e["pid"], e["why"]) for e in daemon.call("getEvents", name=name)]


def test_a_restart_shows_the_old_process_ending_then_the_new_one_starting(
    daemon: Client, load_apps: LoadApps
) -> None:
    first = start_sleeper(daemon, load_apps)
    daemon.call("restartApp", name="srv")
    wait_state(daemon, "srv", "running")
    second = pid_of(daemon, "srv")
    assert history(daemon, "srv")[-4:] == [
        ("running", "stopping", first, None),
        ("stopping", "stopped", first, "killed by SIGTERM"),
        ("stopped", "starting", second, None),
        ("starting", "running", second, None),
    ]


def test_a_restart_without_backoff_shows_the_exit_then_the_new_start(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.srv]
        cmd = ["sleep", "1000"]
        min_start = "0s"
        backoff = { initial = "0s", multiplier = 1, max = "0s" }
    """)
    wait_state(daemon, "srv", "running")
    first = kill_and_wait_restart(daemon, "srv")
    second = pid_of(daemon, "srv")
    assert history(daemon, "srv")[-3:] == [
        ("running", "backoff", first, "killed by SIGKILL"),
        ("backoff", "starting", second, None),
        ("starting", "running", second, None),
    ]


def test_a_start_that_cannot_spawn_names_no_process(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    script = os.path.join(home, "app.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec sleep 1000\n")
    os.chmod(script, 0o755)
    load_apps(f"""
        [apps.gone]
        cmd = ["{script}"]
        min_start = "0s"
        max_restarts = 0
    """)
    wait_state(daemon, "gone", "running")
    daemon.call("stopApp", name="gone")
    os.unlink(script)  # the next start cannot spawn anything
    daemon.call("startApp", name="gone")
    wait_state(daemon, "gone", "crashed")
    events = daemon.call("getEvents", name="gone")
    last = [(e["from"], e["to"], e["pid"]) for e in events[-2:]]
    assert last == [("stopped", "starting", None), ("starting", "crashed", None)]
