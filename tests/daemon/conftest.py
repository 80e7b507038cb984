"""The daemon under test, and the short forms its tests share.

Fixtures: ``daemon`` (a running daemon and a connection to it),
``write_config(toml)`` and ``load_apps(toml)`` (a procward.toml in the test's
home, written and, for the latter, loaded into the running daemon).

Functions, for any client: what an app's instances look like now
(``app_instances``, ``state_of``, ``pid_of``) and waits, each with a deadline,
until they reach a state (``wait_state``, ``wait_all_state``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import free_port, wait_for

LoadApps = Callable[[str], dict[str, Any]]
WriteConfig = Callable[[str], str]


@pytest.fixture
def daemon(cli: Callable[..., Any], paths: InstancePaths) -> Iterator[Client]:
    """A running daemon in the test's home and a connection to it; `down` at the end."""
    assert cli("up").code == 0
    client = Client.open(paths.socket)
    yield client
    client.close()
    # Stop the apps while the daemon can still do it by the book.
    result = cli("down")
    assert result.code == 0, result.err


@pytest.fixture
def write_config(home: str) -> WriteConfig:
    """``write_config(toml)`` writes the home's procward.toml (dedented); returns its path."""

    def write(body: str) -> str:
        path = os.path.join(home, "procward.toml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(body))
        return path

    return write


@pytest.fixture
def load_apps(write_config: WriteConfig, paths: InstancePaths) -> LoadApps:
    """``load_apps(toml)`` writes procward.toml and loads it into the running daemon.

    It does not start a daemon: use it with ``daemon``, or after ``cli("up")``.
    """

    def load(body: str) -> dict[str, Any]:
        path = write_config(body)
        with Client.open(paths.socket) as client:
            result: dict[str, Any] = client.call("loadConfig", path=path)
        return result

    return load


def app_instances(client: Client, name: str) -> list[dict[str, Any]]:
    """The instances of app ``name`` as the daemon reports them, by index."""
    return client.call("getApp", name=name)["instances"]


def state_of(client: Client, name: str, index: int = 0) -> str:
    return app_instances(client, name)[index]["state"]


def pid_of(client: Client, name: str, index: int = 0) -> int:
    pid = app_instances(client, name)[index]["pid"]
    assert isinstance(pid, int)
    return pid


def wait_state(client: Client, name: str, state: str, index: int = 0, timeout: float = 10) -> None:
    """Wait until instance ``index`` of app ``name`` is in ``state``.

    ``running`` is waited for past its ``min_start`` (``proven``): the process is
    the program by then, and it counts as started (decision 0050). A test about
    the probation itself reads the state directly.
    """

    def reached() -> bool:
        inst = app_instances(client, name)[index]
        return inst["state"] == state and (state != "running" or inst.get("proven", True))

    wait_for(reached, timeout, what=f"{name} {state}")


def wait_all_state(
    client: Client, name: str, state: str, count: int | None = None, timeout: float = 10
) -> list[dict[str, Any]]:
    """Wait until every instance of app ``name`` is in ``state``; return the instances.

    With ``count``, there must also be exactly that many instances.
    """

    def reached() -> list[dict[str, Any]] | None:
        found = app_instances(client, name)
        if count is not None and len(found) != count:
            return None
        settled = all(i.get("proven", True) for i in found) or state != "running"
        return found if settled and all(i["state"] == state for i in found) else None

    return wait_for(reached, timeout, what=f"{count or 'all'} of {name} {state}")


def start_sleepers(run_cli: Callable[..., Any], paths: InstancePaths, *names: str) -> list[int]:
    """``procward start --name NAME -- sleep 1000`` for each name; their pids once running."""
    for name in names:
        result = run_cli("start", "--name", name, "--", "sleep", "1000")
        assert result.code == 0, result.err
    with Client.open(paths.socket) as client:
        for name in names:
            wait_state(client, name, "running", timeout=15)
        return [pid_of(client, name) for name in names]


def nonce() -> int:
    """A number to make a test's command line unlike any other process's."""
    return random.randrange(10_000_000, 99_999_999)


def pids_running(argv: str) -> list[int]:
    """Live processes whose command line is exactly ``argv`` (words joined by spaces)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
            with open(f"/proc/{entry}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except (OSError, IndexError):
            continue
        if cmdline == argv and not zombie:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or the read
        return False


def kill_9(paths: InstancePaths) -> None:
    """SIGKILL the daemon of ``paths`` (by the pid it answers with) and wait until it is gone."""
    from procward.kit._control import wait_exit

    with Client.open(paths.socket) as client:
        pid = int(client.call("ping")["pid"])
    os.kill(pid, signal.SIGKILL)
    assert wait_exit(pid, 5)


def start_sleeper(client: Client, load_apps: LoadApps, name: str = "srv") -> int:
    """Load app ``name`` (``sleep 1000``, running at once), wait until it runs; its pid."""
    load_apps(f"""
        [apps.{name}]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_state(client, name, "running")
    return pid_of(client, name)


def kill_and_wait_restart(client: Client, name: str) -> int:
    """SIGKILL instance 0 of ``name`` and wait until it runs again; the killed pid."""
    first = pid_of(client, name)
    restarts = app_instances(client, name)[0]["restarts"]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: app_instances(client, name)[0]["restarts"] == restarts + 1, what="a restart")
    wait_state(client, name, "running")
    return first


def send_request(paths: InstancePaths, method: str, **params: Any) -> socket.socket:
    """Send one request on a new raw connection and leave it unanswered (close it to hang up)."""
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(paths.socket)
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    conn.sendall(json.dumps(request).encode() + b"\n")
    return conn


# -- apps that serve on a socket the daemon holds (reload and upgrade tests) --

SERVER = os.path.join(os.path.dirname(__file__), "socket_server.py")


def server_app(home: str, name: str = "web", **keys: str) -> str:
    extra = "\n".join(f"{key} = {value}" for key, value in keys.items())
    return f"""
        [apps.{name}]
        cmd = ["{sys.executable}", "{SERVER}", "{home}"]
        ready = {{ notify = true }}
        {extra}
    """


def ask(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"?")
        return int(conn.recv(100))


class Load:
    """Connections one after another until stopped: who answered, what failed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers.append(ask(self.port))
            except (OSError, ValueError) as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def load(port: int) -> Iterator[Callable[[], Load]]:
    started: list[Load] = []

    def start() -> Load:
        started.append(Load(port))
        return started[-1]

    yield start
    for each in started:
        each.stop()
