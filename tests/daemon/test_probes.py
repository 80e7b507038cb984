"""Readiness and health probes against real servers, real check commands, real sd_notify."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import free_port, wait_for
from procward.supervision.process import live_groups
from procward.supervision.state import marked_groups

from ..conftest import Result
from .conftest import LoadApps, app_instances, pid_of, state_of, wait_state

SERVER = os.path.join(os.path.dirname(__file__), "probe_server.py")
FAST = 'backoff = { initial = "50ms", multiplier = 2, max = "200ms" }'


def server_cmd(home: str, port: int, delay: float) -> str:
    argv = [sys.executable, SERVER, str(port), str(delay), f"{home}/status", f"{home}/stamp"]
    return "[" + ", ".join(f'"{a}"' for a in argv) + "]"


def read_float(path: str) -> float:
    """The time a test program wrote to ``path``, once it has finished writing it."""

    def written() -> float | None:
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return float(text) if text.endswith("\n") else None

    return wait_for(written, what=f"a time in {path}")


def probe_of(client: Client, name: str, index: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = app_instances(client, name)[index]["probe"]
    return probe


def test_an_app_is_running_once_its_port_accepts(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    port = free_port()
    load_apps(f"""
        [apps.db]
        cmd = {server_cmd(home, port, 0.5)}
        ready = {{ tcp = "127.0.0.1:{port}" }}
    """)
    assert state_of(daemon, "db") == "starting"  # spawned, not listening yet
    wait_state(daemon, "db", "running")
    probe = probe_of(daemon, "db")
    assert probe["passing"] is True and probe["ready"] == f"tcp 127.0.0.1:{port}"
    assert probe["checked_at"] >= read_float(f"{home}/stamp")  # not before it listened
    assert probe["checks"] >= 2  # it was tried, and failed, first


def test_a_dependent_starts_once_its_dependency_is_ready(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    port = free_port()
    load_apps(f"""
        [apps.db]
        cmd = {server_cmd(home, port, 0.4)}
        ready = {{ http = "http://127.0.0.1:{port}/ready" }}

        [apps.web]
        cmd = ["sh", "-c", "date +%s.%N > {home}/web-started; exec sleep 1000"]
        depends_on = ["db"]
    """)
    wait_for(lambda: os.path.exists(f"{home}/web-started"), what="web spawned")
    assert read_float(f"{home}/web-started") >= read_float(f"{home}/stamp")


def test_not_ready_in_time_names_the_instances_own_address(
    daemon: Client, load_apps: LoadApps
) -> None:
    port = free_port()  # nobody listens there
    load_apps(f"""
        [apps.slow]
        cmd = ["sleep", "1000"]
        env = {{ PORT = "{port}" }}
        ready = {{ tcp = "127.0.0.1:$PORT", start_timeout = "200ms", interval = "50ms" }}
        max_restarts = 0
        {FAST}
    """)
    wait_state(daemon, "slow", "crashed")
    inst = app_instances(daemon, "slow")[0]
    assert inst["error"] == f"not ready within 200ms (tcp 127.0.0.1:{port})"


def test_not_ready_in_time_is_a_failed_start(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    load_apps(f"""
        [apps.slow]
        cmd = ["sleep", "1000"]
        ready = {{ exec = "false", start_timeout = "200ms", interval = "50ms" }}
        max_restarts = 2
        {FAST}
    """)
    wait_state(daemon, "slow", "crashed")
    inst = app_instances(daemon, "slow")[0]
    assert inst["restarts"] == 2
    assert inst["error"] == "not ready within 200ms (exec false)"
    assert inst["probe"]["last_error"] == "false: exit status 1"
    shown = cli("health", "slow")
    assert shown.code == 1  # crashed: not well
    assert shown.out.splitlines()[1].split()[:7] == [
        "slow",
        "0",
        "crashed",
        "exec",
        "false",
        "was",  # its last check, before it crashed
        "failing",
    ]
    assert shown.out.splitlines()[1].endswith("false: exit status 1")
    # Every generation was stopped with its group: nothing of it is left.
    wait_for(lambda: not marked_groups(paths.state_dir, exclude=set()), what="no process left")


def test_a_failing_health_check_restarts_the_instance(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    port = free_port()
    load_apps(f"""
        [apps.api]
        cmd = {server_cmd(home, port, 0)}
        ready = {{ tcp = {port} }}
        health = {{ http = "http://127.0.0.1:{port}/health", interval = "100ms", failures = 2 }}
        {FAST}
    """)
    wait_state(daemon, "api", "running")
    first = pid_of(daemon, "api")
    ready_checks = probe_of(daemon, "api")["checks"]
    wait_for(lambda: probe_of(daemon, "api")["checks"] >= ready_checks + 2, what="health checks")
    assert probe_of(daemon, "api")["check"] == "health"
    assert probe_of(daemon, "api")["passing"] is True
    with open(f"{home}/status", "w") as f:
        f.write("503")
    wait_for(lambda: app_instances(daemon, "api")[0]["restarts"] == 1, what="a restart")
    inst = app_instances(daemon, "api")[0]
    assert inst["error"] == (
        f"health check failed 2 times in a row (http http://127.0.0.1:{port}/health): "
        f"http://127.0.0.1:{port}/health answered 503 Test"
    )
    os.unlink(f"{home}/status")
    wait_state(daemon, "api", "running")
    assert pid_of(daemon, "api") != first
    health = daemon.call("getHealth", name="api")
    assert health["healthy"] is True
    assert health["apps"][0]["instances"][0]["state"] == "running"


def test_an_app_can_say_it_is_ready_with_sd_notify(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    # The message comes from a grandchild of the instance that exits at once (as
    # systemd-notify does): it counts because it reached this instance's socket.
    script = f"{home}/svc.sh"
    with open(script, "w") as f:
        f.write(
            'test -n "$NOTIFY_SOCKET" || exit 9\n'
            "sleep 0.3\n"
            f"{sys.executable} -c 'from procward.kit._notify import notify; "
            'notify("READY=1\\nSTATUS=warm")\'\n'
            "exec sleep 1000\n"
        )
    load_apps(f"""
        [apps.svc]
        cmd = ["sh", "{script}"]
        ready = {{ notify = true }}
    """)
    assert state_of(daemon, "svc") == "starting"
    wait_state(daemon, "svc", "running")
    inst = app_instances(daemon, "svc")[0]
    assert inst["status"] == "warm"
    assert inst["probe"]["passing"] is True
    assert inst["restarts"] == 0


def test_an_app_without_a_notify_probe_gets_no_notify_socket(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.plain]
        cmd = ["sleep", "1000"]
    """)
    assert "NOTIFY_SOCKET" not in daemon.call("getEnv", name="plain")


def test_a_hung_check_is_killed_with_everything_it_started(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.srv]
        cmd = ["sleep", "1000"]
        min_start = "0s"
        [apps.srv.health]
        exec = "sh -c 'sleep 1000 & sleep 1000'"
        timeout = "100ms"
        interval = "150ms"
        failures = 1000
    """)
    wait_for(lambda: probe_of(daemon, "srv")["failures"] >= 3, what="three timed-out checks")
    assert probe_of(daemon, "srv")["last_error"] == "sh did not finish within 100ms"
    app_group = pid_of(daemon, "srv")
    # A check runs for 100 ms of every 250: at most one is alive at any time.
    assert len(set(marked_groups(paths.state_dir, exclude=set())) - {app_group}) <= 1
    daemon.call("stopApp", name="srv")
    wait_for(lambda: not marked_groups(paths.state_dir, exclude=set()), what="no process left")
    assert app_group not in live_groups()


def test_inspect_gathers_everything_about_an_app(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [apps.svc]
        cmd = ["sh", "-c", "echo hello from svc; exec sleep 1000"]
        env = { COLOUR = "blue" }
        ready = { delay = "50ms" }
    """)
    wait_state(daemon, "svc", "running")
    wait_for(lambda: daemon.call("getLogs", name="svc", stream="out")[0]["lines"], what="output")
    found = daemon.call("inspect", name="svc", lines=5)
    assert found["spec"]["ready"]["delay"] == 0.05
    assert found["health"]["instances"][0]["passing"] is True
    assert found["usage"][0]["processes"] == 1 and found["usage"][0]["memory"] > 0
    assert found["env"]["COLOUR"] == "blue" and found["watch"] is None
    out = next(entry for entry in found["logs"] if entry["stream"] == "out")
    assert out["lines"] == ["hello from svc"]
    shown = cli("inspect", "svc")
    assert shown.code == 0 and "hello from svc" in shown.out and "delay 50ms" in shown.out


def test_health_exits_1_while_it_shows_a_failing_check(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    port = free_port()  # nobody listens there
    load_apps(f"""
        [apps.api]
        cmd = ["sleep", "1000"]
        min_start = "0s"
        health = {{ tcp = "127.0.0.1:{port}", interval = "50ms", failures = 1000 }}
    """)
    wait_for(lambda: probe_of(daemon, "api")["passing"] is False, what="a failed check")
    assert state_of(daemon, "api") == "running"  # not restarted yet: 1000 failures allowed
    shown = cli("health", "api")
    row = shown.out.splitlines()[1].split()
    assert row[:5] == ["api", "0", "running", "tcp", f"127.0.0.1:{port}"]
    assert row[5] == "failing" and shown.code == 1
    assert daemon.call("getHealth", name="api")["healthy"] is False

    # Stopped, it is well (not meant to run), and its last check is said to be past.
    assert cli("stop", "api").code == 0
    shown = cli("health", "api")
    row = shown.out.splitlines()[1].split()
    assert row[2] == "stopped" and row[5:7] == ["was", "failing"] and shown.code == 0


def test_probes_and_events_name_the_target_of_each_instance(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], home: str
) -> None:
    port = free_port()
    load_apps(f"""
        [apps.db]
        cmd = "{sys.executable} {SERVER} ${{PORT}} 0 {home}/status {home}/stamp"
        env = {{ PORT = "{port}" }}
        ready = {{ tcp = "127.0.0.1:${{PORT}}" }}
        health = {{ http = "http://127.0.0.1:$PORT/health", interval = "50ms" }}
    """)
    wait_state(daemon, "db", "running")
    target = f"127.0.0.1:{port}"
    assert daemon.call("getEvents", name="db")[-1]["why"] == f"ready (tcp {target})"
    wait_for(lambda: probe_of(daemon, "db")["check"] == "health", what="health checks")
    probe = probe_of(daemon, "db")
    assert (probe["ready"], probe["health"]) == (f"tcp {target}", f"http http://{target}/health")
    shown = cli("health", "db")
    assert shown.out.splitlines()[1].split()[3:6] == ["http", f"http://{target}/health", "passing"]
    assert f"http http://{target}/health" in cli("inspect", "db").out
