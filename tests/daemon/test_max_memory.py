"""``max_memory`` (issue 14, item 5): a real process over the limit is restarted, saying why.

Through the sampling path, which needs no cgroup: the instance's process
group read from /proc at the metrics interval (0.2 s here).
"""

from __future__ import annotations

import sys
from typing import Any

from procward.kit._client import Client
from procward.kit.testing import wait_for

from .conftest import LoadApps, app_instances, pid_of, wait_state

HOG = "import time; b = b'x' * (80 << 20); time.sleep(600)"  # written: resident, not lazy


def _events(client: Client, name: str) -> list[dict[str, Any]]:
    return list(client.call("getEvents", name=name))


def test_an_instance_above_max_memory_for_two_samples_is_restarted_with_the_reason(
    daemon: Client, load_apps: LoadApps
) -> None:
    daemon.call("setMetricsEnabled", enabled=False, interval=0.2)  # the pace; sampling stays off
    load_apps(f"""
        [apps.hog]
        cmd = ["{sys.executable}", "-c", "{HOG}"]
        max_memory = "40MB"
        min_start = "0s"
        backoff = {{ initial = "0.1s" }}
    """)
    wait_state(daemon, "hog", "running")
    first = pid_of(daemon, "hog")
    wait_for(lambda: app_instances(daemon, "hog")[0]["restarts"] >= 1, 15, what="a restart")
    app = daemon.call("getApp", name="hog")
    assert "over max_memory 40 MB" in app["error"]
    reasons = [e["why"] or "" for e in _events(daemon, "hog") if e["pid"] == first]
    assert any(r.startswith("memory ") and r.endswith("over max_memory 40 MB") for r in reasons)
    wait_state(daemon, "hog", "running")
    assert pid_of(daemon, "hog") != first
    daemon.call("stopApp", name="hog")
