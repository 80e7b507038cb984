"""A start that fails undoes what it began; a full disk does not stop a start (decision 0031)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from procward.kit._client import Client, connect
from procward.kit._control import wait_exit
from procward.kit._paths import resolve
from procward.kit.testing import reap

from ..conftest import TinyDisk
from .conftest import Sample

FAILS_AFTER_STARTING_A_CHILD = """
import os, subprocess
from procward.kit import Daemon

class Starter(Daemon):
    prefix = "sample"

    async def on_start(self):
        self.child = subprocess.Popen(["sleep", "1000"])
        with open(os.path.join(self.paths.state_dir, "child"), "w") as f:
            f.write(str(self.child.pid))
        raise OSError(28, "No space left on device")

    async def on_start_failed(self):
        self.child.kill()
        self.child.wait()

raise SystemExit(Starter().run())
"""


def test_a_start_that_fails_after_on_start_began_is_undone(sample: Sample) -> None:
    sample.paths.ensure()
    child_file = os.path.join(sample.paths.state_dir, "child")
    try:
        run = subprocess.run(
            [sys.executable, "-c", FAILS_AFTER_STARTING_A_CHILD],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert run.returncode == 1
        assert "cannot start: [Errno 28] No space left on device" in run.stderr
        with open(child_file) as f:
            child = int(f.read())
        assert wait_exit(child, 1), "on_start_failed was not called: the child outlived the start"
    finally:
        with contextlib.suppress(OSError, ValueError), open(child_file) as f:
            os.kill(int(f.read()), signal.SIGKILL)


@pytest.fixture
def full_sample(tiny_disk: TinyDisk, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sample]:
    """The sample daemon's home on a tiny tmpfs, filled to the last byte before it starts."""
    monkeypatch.setenv("SAMPLE_HOME", tiny_disk.path)
    s = Sample(resolve("sample"))
    s.paths.ensure()
    tiny_disk.fill()
    try:
        yield s
    finally:
        for client in s.clients:
            client.close()
        reap(s.paths)


def test_a_full_disk_does_not_stop_a_daemon_from_serving(full_sample: Sample) -> None:
    argv = full_sample.argv()
    with connect(full_sample.paths, spawn_argv=argv) as client:
        assert client.call("ping")["version"] == "9.9"
        [warning] = client.start_warnings
    assert warning.startswith(f"cannot write {full_sample.paths.metadata}: No space left")
    with Client.open(full_sample.paths.socket) as again:  # and it goes on serving
        assert again.call("ping")["pid"] > 0
