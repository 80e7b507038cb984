"""Stopping a daemon from outside: graceful with a deadline, or by force.

Signals go only to a pid whose recorded identity (pid, start time, boot id)
still matches, and only while the instance lock is held: a recycled pid is
never signalled. Waiting uses a pidfd, so the caller wakes the moment the
daemon exits instead of polling.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time

from procward.kit._metadata import Liveness, Metadata, cleanup_stale, running
from procward.kit._paths import InstancePaths
from procward.kit._procinfo import ProcessIdentity


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit; True if it has."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return _wait_pidfd(fd, timeout)
    finally:
        os.close(fd)


def _wait_pidfd(fd: int, timeout: float) -> bool:
    readable, _, _ = select.select([fd], [], [], max(0.0, timeout))
    return bool(readable)


def signal_process(identity: ProcessIdentity, sig: int, wait: float) -> bool:
    """Send ``sig`` to exactly the recorded process and wait for it to exit.

    The pidfd is opened first and the identity checked after, so the signal
    cannot reach a process that took over the pid in between. Returns True
    once the process is gone (or was already).
    """
    try:
        fd = os.pidfd_open(identity.pid)
    except ProcessLookupError:
        return True
    try:
        if not identity.matches_live():
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, sig)
        return _wait_pidfd(fd, wait)
    finally:
        os.close(fd)


def wait_unlocked(paths: InstancePaths, timeout: float) -> bool:
    """Wait for the instance lock to be free (the daemon's files are closed)."""
    from procward.kit._lock import is_locked

    deadline = time.monotonic() + timeout
    while is_locked(paths.lock):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def _live_daemon(paths: InstancePaths, wait: float = 2.0) -> Metadata | None:
    """The running daemon's metadata, waiting briefly for a starting daemon's."""
    deadline = time.monotonic() + wait
    while True:
        liveness, meta = running(paths)
        if liveness is not Liveness.RUNNING:
            if liveness is Liveness.STALE:
                cleanup_stale(paths)
            return None
        if meta is not None and meta.identity.matches_live():
            return meta
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def stop(paths: InstancePaths, timeout: float = 30.0) -> tuple[bool, Metadata | None]:
    """SIGTERM the daemon and wait; SIGKILL it when ``timeout`` passes.

    Returns ``(was_running, metadata)``; ``stop_or_kill`` also says which it took.
    """
    meta, _killed = stop_or_kill(paths, timeout)
    return meta is not None, meta


def stop_or_kill(paths: InstancePaths, timeout: float = 30.0) -> tuple[Metadata | None, bool]:
    """``stop``, returning ``(metadata, killed)``: None if it was not running, and
    True if it did not stop within ``timeout`` and took SIGKILL.

    A killed daemon did not stop its children: its caller may have to (the
    kit cannot know where they are).
    """
    meta = _live_daemon_after_spawns(paths)
    if meta is None:
        return None, False
    killed = not signal_process(meta.identity, signal.SIGTERM, timeout)
    if killed:
        signal_process(meta.identity, signal.SIGKILL, 5.0)
    _forget(paths)
    return meta, killed


def _live_daemon_after_spawns(paths: InstancePaths, wait: float = 15.0) -> Metadata | None:
    """Like ``_live_daemon``, after any start in progress (under the spawn lock) is done.

    Without this a `down` racing an `up` finds nothing yet, says "not running"
    and the daemon comes up right after.
    """
    from procward.kit._lock import hold

    if not os.path.isdir(paths.state_dir):
        return None
    try:
        with hold(paths.spawn_lock, timeout=wait):
            return _live_daemon(paths)
    except TimeoutError:
        return _live_daemon(paths)


def kill(paths: InstancePaths) -> tuple[bool, Metadata | None]:
    """SIGKILL the daemon at once, then clean up what it left."""
    meta = _live_daemon_after_spawns(paths, wait=2.0)
    if meta is None:
        return False, None
    signal_process(meta.identity, signal.SIGKILL, 5.0)
    _forget(paths)
    return True, meta


def _forget(paths: InstancePaths) -> None:
    """Remove what the daemon left, under the spawn lock like every other cleanup.

    ``cleanup_stale`` holds the instance lock for an instant; under the spawn
    lock, a racing `down` cannot take this process for the lock's holder.
    """
    from procward.kit._lock import hold

    wait_unlocked(paths, 1.0)
    try:
        with hold(paths.spawn_lock, timeout=2.0):
            cleanup_stale(paths)
    except TimeoutError:  # a start in progress: it cleans up itself
        pass
