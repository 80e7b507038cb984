"""`procward upgrade`: the daemon execs itself anew; every app keeps running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import Conflict
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import (
    Load,
    LoadApps,
    app_instances,
    ask,
    pid_of,
    send_request,
    server_app,
    wait_all_state,
    wait_state,
)

COUNTER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print(i, flush=True)\n"
    "    time.sleep(0.0005)\n"
)


def pids(client: Client) -> dict[str, list[int]]:
    return {
        app["name"]: [i["pid"] for i in app["instances"]] for app in client.call("status")["apps"]
    }


def upgraded(cli: Callable[..., Result], paths: InstancePaths) -> Client:
    shown = cli("upgrade")
    assert shown.code == 0, shown.err
    assert "procward upgraded in place" in shown.out
    return Client.open(paths.socket)


def counted(path: str) -> list[int]:
    with open(path) as f:
        return [int(line) for line in f if line.strip()]


def test_an_upgrade_keeps_every_process_and_every_line(  # noqa: PLR0917 - fixtures
    daemon: Client,
    load_apps: LoadApps,
    cli: Callable[..., Result],
    paths: InstancePaths,
    home: str,
    port: int,
    load: Callable[[], Load],
) -> None:
    load_apps(
        f"""
        [apps.counter]
        cmd = ["{sys.executable}", "-u", "-c", {json.dumps(COUNTER)}]

        [apps.pair]
        cmd = ["sleep", "1000"]
        instances = 2
        min_start = "0s"
        backoff = {{ initial = "50ms" }}
        """
        + server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}')
    )
    wait_all_state(daemon, "pair", "running")
    wait_state(daemon, "web", "running")
    wait_state(daemon, "counter", "running")
    before, daemon_pid = pids(daemon), daemon.call("ping")["pid"]
    traffic = load()  # the app serves on through the upgrade: nothing of ours is in the way
    wait_for(lambda: len(traffic.answers) > 20, what="some answers")
    with upgraded(cli, paths) as client:
        assert client.call("ping")["pid"] == daemon_pid
        assert pids(client) == before
        wait_for(lambda: len(traffic.answers) > 200, what="more answers")
        traffic.stop()
        assert traffic.failures == []
        # It still supervises: a crash is seen (reaped) and restarted ...
        os.kill(before["pair"][0], signal.SIGKILL)
        first = before["pair"][0]
        wait_for(lambda: app_instances(client, "pair")[0]["pid"] not in (None, first))
        wait_state(client, "pair", "running")
        # ... and a restart gets the listening socket it held before.
        client.call("restartApp", name="web")
        wait_state(client, "web", "running")
        assert ask(port) == pid_of(client, "web") != before["web"][0]
        client.call("stopApp", name="counter")
    numbers = counted(os.path.join(paths.log_dir, "counter", "0.out"))
    assert numbers == list(range(len(numbers))) and len(numbers) > 100  # none lost, none twice


def test_an_upgraded_daemon_stops_cleanly_with_no_process_left(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps("""
        [apps.pair]
        cmd = ["sleep", "1000"]
        instances = 2
        min_start = "0s"
    """)
    wait_all_state(daemon, "pair", "running")
    kept = pids(daemon)["pair"]
    with upgraded(cli, paths) as client:
        assert [i["restarts"] for i in app_instances(client, "pair")] == [0, 0]
        history = [(e["instance"], e["to"]) for e in client.call("getEvents", name="pair")]
        assert {(0, "running"), (1, "running")} <= set(history)  # from before the upgrade
    assert cli("down").code == 0
    for pid in kept:
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)
    assert cli("up").code == 0  # and the next start finds no leftovers to fight
    with Client.open(paths.socket) as client:
        wait_all_state(client, "pair", "running")
        assert set(pids(client)["pair"]).isdisjoint(kept)


def test_an_upgrade_waits_for_instances_that_are_starting(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.slow]
        cmd = ["sleep", "1000"]
        ready = { tcp = "127.0.0.1:1", start_timeout = "1h" }
    """)
    wait_state(daemon, "slow", "starting")
    with pytest.raises(Conflict, match="not now: slow:0 is starting; try again in a moment"):
        daemon.call("upgrade")
    assert daemon.call("ping")["uptime"] > 0  # nothing happened
    daemon.call("stopApp", name="slow")
    pid = daemon.call("ping")["pid"]
    result: dict[str, Any] = daemon.call("upgrade")  # this connection ends with the old program
    assert result == {"upgrading": True, "pid": pid, "keeping": 0}


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_a_follower_follows_the_upgraded_daemon(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps(f"""
        [apps.counter]
        cmd = ["{sys.executable}", "-u", "-c", {json.dumps(COUNTER.replace("0.0005", "0.01"))}]
    """)
    wait_state(daemon, "counter", "running")
    follower = subprocess.Popen(
        [sys.executable, "-m", "procward", "logs", "-f", "-n", "0", "counter"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None and follower.stderr is not None
        assert follower.stdout.readline()  # following
        assert cli("upgrade").code == 0
        assert "following again" in follower.stderr.readline()
        assert follower.stdout.readline()  # and new lines come through the new daemon
        assert cli("down").code == 0
        assert follower.wait(10) == 0  # a stopped daemon ends it quietly
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.communicate()


def test_the_network_listeners_keep_their_ports(
    daemon: Client, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    addresses = daemon.call("setNetwork", tcp="127.0.0.1:0", http="127.0.0.1:0")["addresses"]
    token = daemon.call("createToken", role="viewer", ttl="10m")["token"]
    with upgraded(cli, paths) as client:
        assert client.call("status")["daemon"]["addresses"] == {
            "unix": paths.socket,
            **addresses,
        }
    with Client.open_tcp(addresses["tcp"], token) as remote:  # the same port, still
        assert remote.call("status")["healthy"]
    host, port = addresses["http"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"GET /health HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 200")


def test_the_cli_waits_for_a_starting_instance_then_upgrades(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    load_apps("""
        [apps.warming]
        cmd = ["sleep", "1000"]
        ready = { delay = "1s" }
    """)
    assert app_instances(daemon, "warming")[0]["state"] == "starting"
    with pytest.raises(Conflict, match="not now: warming:0 is starting"):
        daemon.call("upgrade")
    with upgraded(cli, paths) as client:  # retried until it was running
        assert app_instances(client, "warming")[0]["state"] == "running"


def test_an_upgrade_waits_for_exec_commands(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, tmp_path: Any
) -> None:
    started = tmp_path / "started"
    load_apps(f"""
        [apps.srv]
        cmd = ["sleep", "1000"]
        commands = {{ long = ["sh", "-c", "touch {started}; exec sleep 1000"] }}
    """)
    caller = send_request(paths, "exec", name="srv", command="long")
    try:
        wait_for(started.exists, what="the command to run")
        wait_state(daemon, "srv", "running")
        with pytest.raises(Conflict, match=r"not now: 1 exec command\(s\) running"):
            daemon.call("upgrade")
    finally:
        caller.close()  # which stops the command


def test_the_cli_says_at_once_when_the_daemon_dies_during_an_upgrade(
    cli: Callable[..., Result], home: str, paths: InstancePaths
) -> None:
    # The new program dies as it starts: a sitecustomize that exits when it
    # finds the handover, in the daemon's environment only.
    site = os.path.join(home, "site")
    os.mkdir(site)
    with open(os.path.join(site, "sitecustomize.py"), "w") as f:
        f.write("import os\nif os.environ.get('PROCWARD_HANDOVER'):\n    os._exit(3)\n")
    assert cli("up", env={"PYTHONPATH": site}).code == 0
    began = time.monotonic()
    result = cli("upgrade", "--timeout", "30", timeout=60)
    took = time.monotonic() - began
    assert result.code == 1
    assert "died during the upgrade" in result.err, result.err
    assert took < 10, f"the CLI waited {took:.1f} s"
