"""Operations that create work are capped and batched (issue 11, item 5).

A cap on instances per app and in all (``[procward] max_total_instances``),
refused with an error naming it; a large legal scale-up spawns in slices, so
``ping`` keeps answering while it runs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams, RpcError
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, wait_all_state


def test_scale_past_either_cap_is_refused_naming_it_and_the_daemon_answers(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [procward]
        max_total_instances = 4

        [apps.idle]
        cmd = ["sleep", "1000"]
        instances = 2

        [apps.other]
        cmd = ["sleep", "1000"]
    """)
    with pytest.raises(InvalidParams, match=r"more than max_instances \(256\)"):
        daemon.call("scale", name="idle", instances=1_000_000_000)
    assert daemon.call("ping")["pid"] > 0

    daemon.call("scale", name="idle", instances=3)  # 4 in all: at the cap
    with pytest.raises(InvalidParams, match=r"5 in all, more than max_total_instances \(4\)"):
        daemon.call("scale", name="idle", instances=4)
    with pytest.raises(InvalidParams, match=r"max_total_instances \(4\)"):
        daemon.call("addApp", name="third", spec={"cmd": ["sleep", "1000"]})
    assert len(app_instances(daemon, "idle")) == 3
    assert "third" not in [a["name"] for a in daemon.call("list")]


def test_a_file_that_would_pass_the_total_is_refused_whole(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [procward]
        max_total_instances = 3

        [apps.idle]
        cmd = ["sleep", "1000"]
        instances = 3
    """)
    with pytest.raises(RpcError, match=r"max_total_instances \(3\)"):
        load_apps("""
            [procward]
            max_total_instances = 3

            [apps.idle]
            cmd = ["sleep", "1000"]
            instances = 4
        """)
    assert len(app_instances(daemon, "idle")) == 3
    with pytest.raises(RpcError, match="must be an integer from 1 to 100000"):
        load_apps("""
            [procward]
            max_total_instances = 1000000000

            [apps.idle]
            cmd = ["sleep", "1000"]
        """)


class PingTimer:
    """``ping`` on a connection of its own, over and over: the slowest answer."""

    def __init__(self, paths: InstancePaths) -> None:
        self.client = Client.open(paths.socket)
        self.worst = 0.0
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            self.client.call("ping")
            self.worst = max(self.worst, time.monotonic() - start)
            self.count += 1
            self._stop.wait(0.005)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(10)
        self.client.close()
        return self.worst


def test_a_large_scale_up_leaves_ping_answering(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [procward]
        max_instances = 600

        [apps.many]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_all_state(daemon, "many", "running", count=1)
    timer = PingTimer(paths)
    wait_for(lambda: timer.count >= 3, what="pings before the scale")
    try:
        daemon.call("scale", name="many", instances=600)
    finally:
        worst = timer.stop()
    assert len(app_instances(daemon, "many")) == 600
    # 600 spawns in one pass of the loop take seconds here; in 20 ms slices
    # a ping waits one slice. 500 ms leaves room for a machine busy elsewhere
    # (217 ms seen at load 3, beside a second test worker).
    assert worst < 0.5, f"ping took {worst * 1000:.0f} ms during the scale-up"
    daemon.call("scale", name="many", instances=0)


def test_the_total_cap_of_a_file_outlives_a_crash_of_the_daemon(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [procward]
        max_total_instances = 3

        [apps.idle]
        cmd = ["sleep", "1000"]
    """)
    os.kill(daemon.call("ping")["pid"], signal.SIGKILL)
    assert cli("status").code == 0  # a new daemon, from state.json
    refused = pytest.raises(InvalidParams, match=r"more than max_total_instances \(3\)")
    with Client.open(paths.socket) as again, refused:
        again.call("scale", name="idle", instances=4)
