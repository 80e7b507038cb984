"""Fixtures shared by the suite: a private PROCWARD_HOME per test, and a CLI runner.

Every test that can start a daemon gets its own short home under /tmp; at
teardown any daemon still holding an instance there is killed by its recorded
identity and the directory is removed. Nothing touches the real home or
$XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from procward.kit._paths import InstancePaths, resolve
from procward.kit.testing import instances, reap, short_home
from procward.supervision.state import marked_groups


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = short_home("pw-")
    monkeypatch.setenv("PROCWARD_HOME", path)
    for var in ("PROCWARD_INSTANCE", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "WATCHDOG_USEC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PROCWARD_LOG", "debug")
    # Daemons of tests use no cgroups unless a test gives them one (tests/daemon/test_cgroups.py):
    # where the test runner's cgroup is writable they would all make cgroups there.
    monkeypatch.setenv("PROCWARD_CGROUP", "off")
    try:
        yield path
    finally:
        for name in instances(path):
            paths = resolve("procward", name, env={"PROCWARD_HOME": path})
            reap(paths)
            end_apps_of(paths.state_dir)
        shutil.rmtree(path, ignore_errors=True)


def end_apps_of(state_dir: str) -> None:
    """SIGKILL what a test's daemon left running: only processes marked as its own."""
    me = {os.getpid(), os.getpgid(0)}
    for pgid in marked_groups(state_dir, exclude=me):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def paths(home: str) -> InstancePaths:
    return resolve("procward", env={"PROCWARD_HOME": home})


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    *args: str, timeout: float = 30.0, env: dict[str, str] | None = None, cwd: str | None = None
) -> Result:
    """Run ``procward ARGS`` as a user would, in a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "procward", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(home: str) -> Callable[..., Result]:
    """``cli("ping")`` runs the command against this test's private home."""
    return run_cli


class TinyDisk:
    """A 256 KiB tmpfs: ``fill()`` takes every free byte, ``free()`` gives them back."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.filler = os.path.join(path, "filler")

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        assert os.statvfs(self.path).f_bavail == 0

    def free(self) -> None:
        os.unlink(self.filler)


@pytest.fixture
def tiny_disk() -> Iterator[TinyDisk]:
    """A tmpfs of its own to fill (for disk-full tests); skipped where mount is not allowed.

    Unmounted lazily at teardown: end what runs on it first (the fixtures that
    use it do).
    """
    mount = short_home("pw-disk-")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mount],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        os.rmdir(mount)
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield TinyDisk(mount)
    finally:
        subprocess.run(["umount", "-l", mount], check=False)
        os.rmdir(mount)
