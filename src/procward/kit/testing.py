"""Helpers for testing daemons built on the kit, shipped as public API.

Tests of a daemon start real processes in a private home and must leave
nothing behind; these helpers make that short to write:

- ``wait_for(predicate, timeout)`` polls a condition with a deadline, the
  only acceptable way for a test to wait;
- ``reap(paths)`` ends whatever daemon still holds an instance, by its
  recorded identity (never by name), and removes its leftovers;
- ``short_home(prefix)`` makes a temporary home whose socket paths fit the
  107-byte limit of Unix socket addresses;
- ``free_port()`` is a TCP port on 127.0.0.1 that nothing listens on (now);
- ``ManualTimer`` stands in for the loop's ``call_later`` where a test wants
  to say when time passes (``advance``) instead of waiting for it.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

from procward.kit._control import signal_process, wait_unlocked
from procward.kit._lock import is_locked
from procward.kit._metadata import cleanup_stale, running
from procward.kit._paths import InstancePaths

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.005, what: str = ""
) -> T:
    """Return the first truthy value of ``predicate()``; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(interval)


def short_home(prefix: str = "kt-") -> str:
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def reap(paths: InstancePaths, timeout: float = 5.0) -> int | None:
    """SIGKILL the daemon holding ``paths``' lock, if any; return its pid."""
    if not is_locked(paths.lock):
        cleanup_stale(paths)
        return None
    meta = wait_for(lambda: running(paths)[1], timeout, what=f"metadata of {paths}")
    assert meta is not None
    signal_process(meta.identity, signal.SIGKILL, timeout)
    wait_unlocked(paths, timeout)
    cleanup_stale(paths)
    return meta.pid


def instances(home: str) -> list[str]:
    """Instance names with a directory under ``home`` (not ``.keys``: no name starts with a dot)."""
    try:
        names = os.listdir(home)
    except FileNotFoundError:
        return []
    return sorted(
        n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(home, n))
    )


def free_port() -> int:
    """A port on 127.0.0.1 free at the time of the call (the kernel picked it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ManualTimer:
    """``call_later`` on a clock that moves only when told: ``advance(seconds)``."""

    def __init__(self) -> None:
        self.now = 0.0
        self._due: list[_Call] = []

    def call_later(self, delay: float, callback: Callable[[], object], /) -> _Call:
        call = _Call(self.now + delay, callback)
        self._due.append(call)
        return call

    @property
    def pending(self) -> int:
        return sum(1 for call in self._due if not call.cancelled)

    def advance(self, seconds: float) -> None:
        """Move the clock on, running what falls due, in order of due time."""
        self.now += seconds
        while due := [c for c in self._due if c.when <= self.now and not c.cancelled]:
            call = min(due, key=lambda c: c.when)
            self._due.remove(call)
            call.callback()
        self._due = [c for c in self._due if not c.cancelled]


class _Call:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
