"""Fixtures shared by the suite: a private PROCWARD_HOME per test, and a CLI runner.

Every test that can start a daemon gets its own short home under /tmp; at
teardown any daemon still holding an instance there is killed by its recorded
identity and the directory is removed. Nothing touches the real home or
$XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from procward.kit.paths import InstancePaths, resolve
from procward.kit.testing import instances, reap, short_home


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = short_home("pw-")
    monkeypatch.setenv("PROCWARD_HOME", path)
    for var in ("PROCWARD_INSTANCE", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "WATCHDOG_USEC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PROCWARD_LOG", "debug")
    try:
        yield path
    finally:
        for name in instances(path):
            reap(resolve("procward", name, env={"PROCWARD_HOME": path}))
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def paths(home: str) -> InstancePaths:
    return resolve("procward", env={"PROCWARD_HOME": home})


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Result:
    """Run ``procward ARGS`` as a user would, in a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "procward", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(home: str) -> Callable[..., Result]:
    """``cli("ping")`` runs the command against this test's private home."""
    return run_cli
