"""A real redis-server per test that asks for one, on a free port in a temp dir.

Started as ``redis-server --port P --dir TMP --save '' --appendonly no`` on
127.0.0.1, waited for with a deadline, and ended by its pid. Without the
command the tests that need it skip, except in CI (env ``CI`` set), where
they fail: ``make test-tools`` installs Debian's redis-server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from procward.kit.testing import free_port, wait_for
from tests.fleet.nodes import Fleet


class RedisServer:
    """One redis-server we started: its URL, and stop / start again on the same port."""

    def __init__(self, command: str, directory: str) -> None:
        self.command = command
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.command, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", self.directory, "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout=10, what=f"{self.command} on port {self.port}")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


def server_command(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"no {name} in CI: make test-tools installs it (apt-get install {name})")
        pytest.skip(f"no {name} here (apt-get install {name}, or make test-tools)")
    return found


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    pytest.importorskip("redis", reason="the fleet's extra: pip install 'procward[fleet]'")
    directory = tempfile.mkdtemp(prefix="pw-redis-")
    server = RedisServer(server_command("redis-server"), directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[Fleet]:
    directory = tempfile.mkdtemp(prefix="pw-fleet-")
    nodes = Fleet(redis_server.url, directory)
    try:
        yield nodes
    finally:
        nodes.close()
        shutil.rmtree(directory, ignore_errors=True)
