from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths, resolve
from procward.kit._spawn import start_detached
from procward.kit.testing import reap, short_home

SAMPLE = os.path.join(os.path.dirname(__file__), "sample_daemon.py")


@dataclass
class Sample:
    """Starts the sample daemon in a private home and connects to it."""

    paths: InstancePaths
    clients: list[Client] = field(default_factory=list)

    def argv(self, *flags: str) -> list[str]:
        return [sys.executable, SAMPLE, "--detached", *flags]

    def start(self, *flags: str, timeout: float = 10.0) -> int:
        self.paths.ensure()
        started = start_detached(self.argv(*flags), log_path=self.paths.daemon_log, timeout=timeout)
        return started.pid

    def client(self) -> Client:
        client = Client.open(self.paths.socket)
        self.clients.append(client)
        return client

    def log(self) -> str:
        with open(self.paths.daemon_log) as f:
            return f.read()


@pytest.fixture
def sample(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sample]:
    home = short_home("ks-")
    monkeypatch.setenv("SAMPLE_HOME", home)
    for var in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "WATCHDOG_USEC"):
        monkeypatch.delenv(var, raising=False)
    s = Sample(resolve("sample"))
    try:
        yield s
    finally:
        for client in s.clients:
            client.close()
        reap(s.paths)
        shutil.rmtree(home, ignore_errors=True)
