"""``max_age`` on a real daemon: instances of an HTTP app replaced one at a time under load.

The approach of ``test_reload.py``: a server app holding the daemon's socket,
two instances, a client asking without pause; here no one asks for a reload,
the instances' age does (``max_age = "3s"``, no jitter).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from procward.kit._client import Client
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import Load, LoadApps, app_instances, server_app, wait_all_state


def _server_events(home: str) -> list[tuple[str, str]]:
    """``(start|stop, index)`` as the server app wrote them, in order."""
    try:
        with open(f"{home}/events") as f:
            return [tuple(line.split()[:2]) for line in f.read().splitlines()]  # type: ignore[misc]
    except FileNotFoundError:
        return []


def _most_down_at_once(events: list[tuple[str, str]]) -> int:
    down: set[str] = set()
    most = 0
    for what, index in events:
        if what == "stop":
            down.add(index)
        else:
            down.discard(index)
        most = max(most, len(down))
    return most


def test_max_age_replaces_instances_one_at_a_time_and_no_request_fails(
    daemon: Client, load_apps: LoadApps, home: str, port: int, load: Callable[[], Load]
) -> None:
    keys: dict[str, Any] = {
        "sockets": f'{{ http = "127.0.0.1:{port}" }}',
        "instances": "2",
        "max_age": '"3s"',
        "max_age_jitter": '"0s"',
    }
    load_apps(server_app(home, **keys))
    first = {i["pid"] for i in wait_all_state(daemon, "web", "running", count=2)}
    traffic = load()
    wait_for(lambda: len(traffic.answers) > 20, what="traffic")

    def replaced() -> bool:
        now = {i["pid"] for i in app_instances(daemon, "web")}
        return now.isdisjoint(first) and all(
            i["state"] == "running" for i in app_instances(daemon, "web")
        )

    wait_for(replaced, timeout=30, what="both instances replaced for their age")
    answered = len(traffic.answers)
    wait_for(lambda: len(traffic.answers) > answered + 20, what="traffic to the new ones")
    traffic.stop()
    events = _server_events(home)
    daemon.call("stopApp", name="web")
    assert traffic.failures == []
    assert first & set(traffic.answers)  # the old ones served, then the new ones
    assert events.count(("stop", "0")) >= 1 and events.count(("stop", "1")) >= 1
    assert _most_down_at_once(events) == 1  # never both instances at once
    recycled = [
        (e["instance"], e["why"])
        for e in daemon.call("getEvents", name="web", limit=200)
        if e["to"] == "reloading"
    ]
    assert recycled[:2] in (
        [(0, "max_age 3s"), (1, "max_age 3s")],
        [(1, "max_age 3s"), (0, "max_age 3s")],
    )


def test_inspect_says_when_an_app_is_next_recycled(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    sleeper = f'cmd = ["{sys.executable}", "-c", "import time; time.sleep(600)"]'
    load_apps(
        f"""
        [apps.web]
        {sleeper}
        cron_restart = "0 3 * * *"
        max_age = "1d"

        [apps.other]
        {sleeper}
        """
    )
    wait_all_state(daemon, "web", "running", count=1)
    recycling = daemon.call("inspect", name="web")["recycling"]
    assert recycling["cron_restart"] == "0 3 * * *"
    assert recycling["next_cron_restart"] > time.time()
    assert recycling["max_age"] == 86400.0 and recycling["max_age_jitter"] == 8640.0
    assert list(recycling["replace_at"]) == ["0"]
    assert daemon.call("inspect", name="other")["recycling"] is None
    shown = cli("inspect", "web").out
    assert "cron_restart: 0 3 * * *, next " in shown and " 03:00:00" in shown
    assert "max_age:      1d0h (+ up to 2h24m)" in shown and "instance 0: replaced at " in shown
    assert "recycling:" not in cli("inspect", "other").out
