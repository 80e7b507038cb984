"""Watch mode end to end: a real daemon, real files, real inotify, real reloads.

Whether something did *not* happen is checked without sleeping: after it, a
change that must reload the app is made, and the daemon's log must then show
exactly one reload, caused by that change alone. An ignored change, or a
second reload out of a burst, would have shown up there (as another reload
or as "and N more" files in the same one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams, NotFound
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, wait_state


def watched_app(home: str) -> str:
    os.makedirs(f"{home}/src", exist_ok=True)
    return f"""
        [apps.web]
        cmd = ["sh", "-c", "echo started >> {home}/starts; exec sleep 1000"]
        cwd = "src"
        watch = {{ ignore = ["*.tmp"], delay = "300ms" }}
        min_start = "0s"

        [apps.plain]
        cmd = ["sleep", "1000"]
    """


def starts(home: str) -> int:
    try:
        with open(f"{home}/starts") as f:
            return f.read().count("started\n")
    except FileNotFoundError:
        return 0


def messages(paths: InstancePaths) -> list[str]:
    found = []
    with open(paths.daemon_log) as f:
        for line in f:
            try:
                found.append(str(json.loads(line)["msg"]))
            except (ValueError, KeyError):
                continue
    return found


def reloads(paths: InstancePaths) -> list[str]:
    return [m for m in messages(paths) if m.startswith("web: ") and "reloading" in m]


def wait_watching(paths: InstancePaths, home: str, times: int = 1) -> None:
    """Until the daemon watched web's directory ``times`` times: no change is missed now."""
    line = f"web: watching {home}/src"
    wait_for(lambda: messages(paths).count(line) >= times, what=line)


def write(path: str, text: str = "x") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(text)


def reloaded_by(paths: InstancePaths, home: str, count: int, name: str) -> None:
    """Change ``name`` and wait for the reload it causes, the ``count``-th start of web."""
    write(f"{home}/src/{name}")
    wait_for(lambda: starts(home) >= count, what=f"start {count} of web")
    wait_for(
        lambda: reloads(paths) and reloads(paths)[-1].startswith(f"web: {home}/src/{name}"),
        what=f"the reload for {name}",
    )
    assert starts(home) == count


def test_a_burst_of_writes_is_one_reload_after_the_delay(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    load_apps(watched_app(home))
    wait_state(daemon, "web", "running")
    wait_watching(paths, home)
    first = daemon.call("getApp", name="web")["instances"][0]["pid"]
    assert starts(home) == 1
    for n in range(20):
        write(f"{home}/src/app.py", f"version {n}\n")
    wait_for(lambda: starts(home) == 2, what="web reloaded")
    wait_state(daemon, "web", "running")
    assert daemon.call("getApp", name="web")["instances"][0]["pid"] != first
    reloaded_by(paths, home, 3, "barrier.py")
    assert reloads(paths) == [
        f"web: {home}/src/app.py changed; reloading",
        f"web: {home}/src/barrier.py changed; reloading",
    ]


def test_ignored_files_do_not_reload(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    load_apps(watched_app(home))
    wait_state(daemon, "web", "running")
    wait_watching(paths, home)
    write(f"{home}/src/notes.tmp")  # the app's own ignore
    write(f"{home}/src/server.log")  # the defaults
    write(f"{home}/src/__pycache__/m.cpython-311.pyc")
    write(f"{home}/src/node_modules/pkg/index.js")
    reloaded_by(paths, home, 2, "main.py")
    assert reloads(paths) == [f"web: {home}/src/main.py changed; reloading"]


def test_a_stopped_app_is_not_watched_until_it_starts(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    load_apps(watched_app(home))
    wait_watching(paths, home)
    daemon.call("stopApp", name="web")
    write(f"{home}/src/while-stopped.py")
    daemon.call("startApp", name="web")
    wait_watching(paths, home, times=2)
    assert starts(home) == 2  # the start, not a reload
    reloaded_by(paths, home, 3, "after.py")
    assert reloads(paths) == [f"web: {home}/src/after.py changed; reloading"]


def test_the_watch_key_survives_a_daemon_restart(
    cli: Callable[..., Result], load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    assert cli("up").code == 0
    load_apps(watched_app(home))
    wait_watching(paths, home)
    assert cli("down").code == 0
    assert cli("up").code == 0  # from state.json alone
    wait_watching(paths, home, times=2)
    reloaded_by(paths, home, 3, "restored.py")
    assert cli("down").code == 0


def test_watch_status_and_the_runtime_switch(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    load_apps(watched_app(home))
    wait_watching(paths, home)
    status = daemon.call("getWatchStatus")
    assert status["enabled"] is True
    [web] = status["apps"]  # "plain" has no watch key
    assert web["name"] == "web" and web["paths"] == [f"{home}/src"]
    assert web["restarts_by_watch"] == 0 and web["last_change"] is None

    off = daemon.call("disableWatch")
    assert off["enabled"] is False and off["apps"][0]["watching"] is False
    write(f"{home}/src/unseen.py")
    daemon.call("enableWatch", apps=["web"])
    wait_watching(paths, home, times=2)
    reloaded_by(paths, home, 2, "seen.py")
    assert reloads(paths) == [f"web: {home}/src/seen.py changed; reloading"]
    web = daemon.call("getWatchStatus")["apps"][0]
    assert web["restarts_by_watch"] == 1
    assert web["last_change"]["path"] == f"{home}/src/seen.py"

    with pytest.raises(NotFound):
        daemon.call("enableWatch", apps=["nope"])
    with pytest.raises(InvalidParams, match="plain has no watch key"):
        daemon.call("enableWatch", apps=["plain"])


def test_procward_watch_shows_and_switches(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str, cli: Any
) -> None:
    load_apps(watched_app(home))
    wait_watching(paths, home)
    shown = cli("watch")
    assert shown.code == 0 and shown.out.startswith("watch mode: on\n")
    assert f"web   yes       0        -            {home}/src" in shown.out
    off = cli("watch", "--off")
    assert off.out.startswith("watch mode: off (procward watch --on)\n")
    on = cli("watch", "--on", "web")
    assert on.out.startswith("watch mode: on, only web\n")


def test_watch_on_answers_once_the_app_is_watched_or_says_why_not(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str, cli: Any
) -> None:
    load_apps(watched_app(home))
    wait_watching(paths, home)
    assert cli("watch", "--off").code == 0
    on = cli("watch", "--on", "web")
    assert on.code == 0 and f"web   yes       0        -            {home}/src" in on.out
    daemon.call("stopApp", name="web")
    shown = cli("watch", "--on", "web")
    assert "web   no (stopped: watched once it starts)" in shown.out
    assert daemon.call("getWatchStatus")["apps"][0]["why_not"] == "stopped: watched once it starts"
    daemon.call("startApp", name="web")
    assert cli("watch", "--off").out.splitlines()[2].split()[:3] == ["web", "no", "(watch"]
