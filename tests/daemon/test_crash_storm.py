"""A crash storm must not take the daemon's loop: RPC, pipes and timers get their turn.

Issue 11, item 0: with a zero restart delay the reaper respawned inside its
``waitpid(-1)`` loop, and when respawning took longer than the children
lived, the loop never returned: no RPC answered, fds piling up.
"""

from __future__ import annotations

import os
import time

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from tests.daemon.conftest import LoadApps

pytestmark = pytest.mark.slow

STORM_APPS = 40


def _storm(count: int) -> str:
    # `true` lives ~1 ms: less than respawning 40 of them takes.
    body = []
    for i in range(count):
        body.append(
            f"""
            [apps.crash{i}]
            cmd = ["true"]
            restart = "always"
            min_start = "0s"
            min_uptime = "0s"
            backoff = {{ initial = "0s", max = "0s" }}
            max_restarts = 1000000
            restart_window = "1s"
            """
        )
    return "".join(body)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_the_daemon_answers_during_a_crash_storm(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    pid = daemon.call("ping")["pid"]
    load_apps(_storm(STORM_APPS))
    worst, restarts_seen, fds = 0.0, 0, []
    deadline = time.monotonic() + 4.0
    with Client.open(paths.socket, timeout=5.0) as probe:
        while time.monotonic() < deadline:
            began = time.monotonic()
            probe.call("ping")
            worst = max(worst, time.monotonic() - began)
            fds.append(_fds(pid))
            time.sleep(0.05)
        restarts_seen = sum(
            i["restarts"] for a in probe.call("status")["apps"] for i in a["instances"]
        )
    print(f"storm: {restarts_seen} restarts, worst ping {worst * 1000:.1f} ms, fds {max(fds)}")
    assert restarts_seen > STORM_APPS, "the storm did not happen"
    assert worst < 0.2, f"ping took {worst * 1000:.0f} ms during the storm"
    assert max(fds) < 500, f"the daemon held {max(fds)} fds"
    # And it can still be stopped by the book: the fixture's `down` stops all.
