"""Metrics through the daemon: on demand, sampled, shown by status, kept across restarts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, wait_state

BUSY = "import time\\nend = time.time() + 60\\nwhile time.time() < end: pass"


def test_metrics_on_demand_measure_each_group(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.busy]
        cmd = ["sh", "-c", '{sys.executable} -c "$0"; :', "{BUSY}"]
        min_start = "0s"

        [apps.idle]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_state(daemon, "busy", "running")
    wait_for(lambda: _count_busy(daemon) == 2, what="the busy loop under its shell")
    metrics = daemon.call("getMetrics")
    assert metrics["enabled"] is False
    busy, idle = (app["instances"][0] for app in metrics["apps"])
    # A core's worth on a quiet machine; a share of two on one loaded by other work.
    assert busy["processes"] == 2 and busy["cpu"] >= 10.0 and busy["memory"] > 1 << 20
    assert idle["processes"] == 1 and idle["cpu"] < 5.0
    assert metrics["daemon"]["memory"] > 1 << 20
    # Measured on demand: status does not show a stale reading afterwards.
    assert "memory" not in app_instances(daemon, "busy")[0]


def _count_busy(daemon: Client) -> int:
    metrics = daemon.call("getMetrics", name="busy")
    count: int = metrics["apps"][0]["instances"][0]["processes"]
    return count


def test_sampling_shows_usage_in_status_and_survives_a_restart(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps("""
        [apps.idle]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_state(daemon, "idle", "running")
    assert daemon.call("setMetricsEnabled", enabled=True, interval=0.2) == {
        "enabled": True,
        "interval": 0.2,
    }
    wait_for(lambda: app_instances(daemon, "idle")[0].get("cpu") is not None, what="a sample")
    shown = cli("status")
    assert shown.out.splitlines()[1].split()[6:] == ["CPU", "MEM"]
    assert cli("down").code == 0
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        assert again.call("getMetrics")["enabled"] is True
        wait_for(lambda: "memory" in app_instances(again, "idle")[0], what="sampling again")


def test_a_bad_sampling_interval_is_refused(daemon: Client) -> None:
    with pytest.raises(InvalidParams, match=r"interval must be between 0\.1 and 3600 seconds"):
        daemon.call("setMetricsEnabled", enabled=True, interval=0)
    assert daemon.call("getMetrics")["enabled"] is False


def test_sampling_can_be_for_some_apps_only(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps("""
        [apps.a]
        cmd = ["sleep", "1000"]
        min_start = "0s"

        [apps.b]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_state(daemon, "a", "running")
    wait_state(daemon, "b", "running")
    on = daemon.call("setMetricsEnabled", name="a", enabled=True, interval=0.2)
    assert on == {"enabled": True, "interval": 0.2, "sampled": ["a"]}
    wait_for(lambda: app_instances(daemon, "a")[0].get("cpu") is not None, what="a sampled")
    assert "memory" not in app_instances(daemon, "b")[0]
    # b is not sampled: measured on demand, and status shows no reading of it after
    [b] = daemon.call("getMetrics", name="b")["apps"]
    assert b["instances"][0]["memory"] > 0
    assert "memory" not in app_instances(daemon, "b")[0]

    shown = cli("metrics", "--on", "b")
    assert shown.code == 0 and "(sampling every 0.2s: a, b)" in shown.out
    wait_for(lambda: "memory" in app_instances(daemon, "b")[0], what="b sampled")
    off = cli("metrics", "--off", "a", "--json")
    assert json.loads(off.out)["sampled"] == ["b"]
    assert "memory" not in app_instances(daemon, "a")[0]
    assert cli("down").code == 0
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        wait_for(lambda: "memory" in app_instances(again, "b")[0], what="b sampled again")
        assert "memory" not in app_instances(again, "a")[0]
        assert again.call("setMetricsEnabled", name="b", enabled=False) == {
            "enabled": False,
            "interval": 0.2,
        }


def test_the_trend_keeps_the_last_minutes_while_sampling_is_on(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.pair]
        cmd = ["sleep", "1000"]
        instances = 2
        min_start = "0s"
    """)
    wait_state(daemon, "pair", "running")
    off = daemon.call("getTrends")
    assert off == {"enabled": False, "interval": 5.0, "times": [], "apps": []}
    daemon.call("setMetricsEnabled", enabled=True, interval=0.1)
    wait_for(lambda: len(daemon.call("getTrends")["times"]) >= 4, what="four samples")
    trend = daemon.call("getTrends", name="pair")
    (pair,) = trend["apps"]
    assert len(pair["cpu"]) == len(pair["memory"]) == len(trend["times"])
    # Both instances' memory summed: two sleeps are more than one (and well under 64 MiB).
    sleep_rss = app_instances(daemon, "pair")[0]["memory"]
    assert all(sleep_rss < m < 64 << 20 for m in pair["memory"]), (sleep_rss, pair["memory"])
    newest = trend["times"][-1]
    wait_for(lambda: daemon.call("getTrends", since=newest)["times"], what="a newer sample")
    later = daemon.call("getTrends", since=newest)
    assert all(t > newest for t in later["times"])
    wait_for(lambda: len(daemon.call("getTrends")["times"]) == 60, what="a full ring", timeout=30)
    daemon.call("setMetricsEnabled", enabled=False)
    assert daemon.call("getTrends")["enabled"] is False
