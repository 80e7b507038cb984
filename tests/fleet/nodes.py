"""Real procward daemons as fleet nodes: each its own home, node name and TCP port.

``Fleet`` starts them with the short timings tests use (heartbeat 0.2 s,
offline after 2 s, election 0.5-1 s), asks them over their Unix sockets,
and at the end kills each daemon it started (by its recorded identity) and
the apps it left, then removes the homes. ``Copies`` samples, in a thread,
how many processes of a placed app run across the whole machine, so a test
can assert "never two at once" over its whole run, not at a few moments.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

from procward.kit._client import Client
from procward.kit._paths import InstancePaths, resolve
from procward.kit.testing import free_port, reap, short_home, wait_for
from tests.conftest import end_apps_of

TIMINGS = 'heartbeat = "0.2s"\noffline_after = "2s"\nelection_timeout = "0.5s-1s"\n'


class Node:
    def __init__(
        self, name: str, redis_url: str, key_file: str, marker: str, labels: str, *, extra: str = ""
    ) -> None:
        self.name = name
        self.home = short_home("pwf-")
        self.port = free_port()
        self.env = {
            **os.environ,
            "PROCWARD_HOME": self.home,
            "PROCWARD_CGROUP": "off",
            "XDG_CONFIG_HOME": os.path.join(self.home, "config"),  # not the user's remotes.toml
        }
        for var in ("PROCWARD_INSTANCE", "NOTIFY_SOCKET", "PROCWARD_CONNECT", "PROCWARD_TOKEN"):
            self.env.pop(var, None)
        self.pid = 0  # the daemon's, once started
        self.paths: InstancePaths = resolve("procward", env={"PROCWARD_HOME": self.home})
        self.config = os.path.join(self.home, "procward.toml")
        body = f"""
            [daemon.cluster]
            enabled = true
            redis = "{redis_url}"
            name = "test"
            node = "{name}"
            advertise = "127.0.0.1:{self.port}"
            labels = {labels}
            key_file = "{key_file}"
            """
        apps = f"""
            [apps.local]
            cmd = ["sleep", "100000"]

            [apps.reporter]
            cmd = ["{sys.executable}", "-c", "import time; time.sleep(100001)", "{marker}"]
            stop_timeout = "2s"
            placement = {{ count = 1, labels = {{ role = "web" }} }}
            """
        with open(self.config, "w") as f:
            f.write(textwrap.dedent(body) + TIMINGS + extra + textwrap.dedent(apps))

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "procward", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        for args in (
            ("up",),
            ("network", "--tcp", f"127.0.0.1:{self.port}"),
            ("up", "-c", self.config),
        ):
            done = self.cli(*args)
            assert done.returncode == 0, (self.name, args, done.stdout, done.stderr)
        self.pid = int(self.call("ping")["pid"])

    def call(self, method: str, **params: Any) -> Any:
        with Client.open(self.paths.socket, timeout=5) as client:
            return client.call(method, params)

    def fleet(self) -> dict[str, Any] | None:
        """``getFleet``, or None while it is unavailable."""
        try:
            reply: dict[str, Any] = self.call("getFleet")
        except Exception:
            return None
        return reply

    def state_of(self, app: str) -> str:
        reply = self.call("getApp", name=app)
        return str(reply["instances"][0]["state"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            reap(self.paths)
        end_apps_of(self.paths.state_dir)
        shutil.rmtree(self.home, ignore_errors=True)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


class Copies:
    """How many processes whose argv holds ``marker`` run, sampled every few ms in a thread."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self.most = 0
        self.seen: dict[int, str] = {}  # the processes when the most were seen
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        return len(self.pids())

    def pids(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                with open(f"/proc/{entry}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if self.marker in argv and state != b"Z":
                found.append(int(entry))
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = self.pids()
            if len(pids) > self.most:
                self.most = len(pids)
                self.seen = {pid: _cmdline(pid) for pid in pids}
            self.samples += 1
            time.sleep(0.01)

    def __enter__(self) -> Copies:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Fleet:
    def __init__(self, redis_url: str, directory: str) -> None:
        self.redis_url = redis_url
        self.key_file = os.path.join(directory, "fleet.key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(os.urandom(32).hex())
        self.marker = f"fleet-{os.getpid()}-{time.monotonic_ns()}"
        self.nodes: dict[str, Node] = {}

    def add(
        self, name: str, labels: str = '{ role = "web" }', start: bool = True, extra: str = ""
    ) -> Node:
        node = Node(name, self.redis_url, self.key_file, self.marker, labels, extra=extra)
        self.nodes[name] = node
        if start:
            node.start()
        return node

    def leader(self, among: Iterator[Node] | None = None) -> str | None:
        for node in among or iter(self.nodes.values()):
            view = node.fleet()
            if view is not None and view["leader"]:
                return str(view["leader"])
        return None

    def runners(self) -> list[str]:
        """The nodes whose ``reporter`` has a process now."""
        found = []
        for node in self.nodes.values():
            try:
                if node.state_of("reporter") in ("starting", "running"):
                    found.append(node.name)
            except Exception:
                continue
        return found

    def wait_runner(self, timeout: float = 15, exclude: str | None = None) -> str:
        def one() -> str | None:
            found = [n for n in self.runners() if n != exclude]
            return found[0] if len(found) == 1 else None

        return wait_for(one, timeout, 0.02, what="reporter running on exactly one node")

    def close(self) -> None:
        for node in self.nodes.values():
            if node.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.pid, signal.SIGCONT)  # a test that paused one
            node.close()
