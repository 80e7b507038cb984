"""The single-instance flock: held, probed, inherited by nobody, dropped when its holder dies."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from procward.kit._lock import InstanceLock, hold, is_locked, lock_holder
from procward.kit.testing import wait_for

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()  # hold until killed or until stdin closes
"""


@pytest.fixture
def lock_path(tmp_path: Path) -> str:
    return str(tmp_path / "daemon.lock")


@pytest.fixture
def locks() -> Iterator[list[InstanceLock]]:
    """InstanceLocks a test takes, released at teardown whatever happens."""
    taken: list[InstanceLock] = []
    try:
        yield taken
    finally:
        for lock in taken:
            lock.release()


@pytest.fixture
def holder(lock_path: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``lock_path``; killed by pid and reaped at teardown."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lock_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()


def new_lock(locks: list[InstanceLock], path: str) -> InstanceLock:
    lock = InstanceLock(path)
    locks.append(lock)
    return lock


def test_acquire_and_release(lock_path: str, locks: list[InstanceLock]) -> None:
    lock = new_lock(locks, lock_path)
    assert not lock.held
    assert lock.acquire()
    assert lock.held
    assert is_locked(lock_path)
    assert stat.S_IMODE(os.stat(lock_path).st_mode) == 0o600
    lock.release()
    assert not lock.held
    assert not is_locked(lock_path)
    assert os.path.exists(lock_path)  # never removed: see the module docstring
    lock.release()  # releasing twice is harmless


def test_a_second_lock_in_the_same_process_is_refused_while_the_first_is_held(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    first, second = new_lock(locks, lock_path), new_lock(locks, lock_path)
    assert first.acquire()
    assert not second.acquire(grace=0.05)  # flock is per open file description
    assert not second.held
    first.release()
    assert second.acquire(grace=0)


def test_acquire_waits_out_its_grace_period_for_a_brief_holder(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    first, second = new_lock(locks, lock_path), new_lock(locks, lock_path)
    assert first.acquire()
    acquired: list[bool] = []
    waiter = threading.Thread(target=lambda: acquired.append(second.acquire(grace=10)))
    waiter.start()
    first.release()
    waiter.join(timeout=10)
    assert acquired == [True]


def test_is_locked_on_a_missing_file_is_false_and_creates_nothing(lock_path: str) -> None:
    assert not is_locked(lock_path)
    assert not os.path.exists(lock_path)


def test_is_locked_sees_a_lock_held_by_another_process_until_it_dies(
    lock_path: str, holder: subprocess.Popen[str], locks: list[InstanceLock]
) -> None:
    assert is_locked(lock_path)
    assert not new_lock(locks, lock_path).acquire(grace=0.05)
    os.kill(holder.pid, signal.SIGKILL)
    wait_for(lambda: not is_locked(lock_path), timeout=10, what="the lock to be dropped")
    holder.wait()
    assert new_lock(locks, lock_path).acquire(grace=0)


def test_probing_does_not_disturb_the_holder(
    lock_path: str, holder: subprocess.Popen[str], locks: list[InstanceLock]
) -> None:
    for _ in range(20):
        assert is_locked(lock_path)
    assert holder.poll() is None
    assert not new_lock(locks, lock_path).acquire(grace=0)


def test_a_child_process_does_not_inherit_the_lock(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    lock = new_lock(locks, lock_path)
    assert lock.acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        close_fds=False,  # even when the child may inherit fds, O_CLOEXEC keeps the lock ours
    )
    try:
        lock.release()
        # The child's copy of the fd is closed by exec(), but the kernel may finish
        # that close a moment after Popen returns: wait, with a deadline. An inherited
        # lock would stay held for the child's whole life.
        wait_for(lambda: not is_locked(lock_path), timeout=5, what="the lock to be dropped")
        assert child.poll() is None
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()


# -- hold ----------------------------------------------------------------------------


def test_hold_creates_the_file_and_times_out_while_it_is_held(tmp_path: Path) -> None:
    path = str(tmp_path / "spawn.lock")
    with hold(path, timeout=1):
        assert is_locked(path)
        timed_out = pytest.raises(TimeoutError, match=r"timed out after 0\.05s waiting for .*lock")
        with timed_out, hold(path, timeout=0.05):
            pass
    assert not is_locked(path)
    with hold(path, timeout=0):
        pass


def test_hold_serialises_its_holders(tmp_path: Path) -> None:
    path = str(tmp_path / "spawn.lock")
    events: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with hold(path, timeout=10):
            events.append("second in")
            entered.set()

    with hold(path, timeout=1):
        thread = threading.Thread(target=second)
        thread.start()
        # A negative check needs some window; the positive wait below has a real deadline.
        assert not entered.wait(0.1)
        events.append("first out")
    assert entered.wait(10)
    thread.join(timeout=10)
    assert events == ["first out", "second in"]


def test_hold_releases_when_the_block_raises(tmp_path: Path) -> None:
    path = str(tmp_path / "spawn.lock")
    with pytest.raises(RuntimeError), hold(path, timeout=1):
        raise RuntimeError("boom")
    assert not is_locked(path)


def test_hold_times_out_against_another_process(
    lock_path: str, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(TimeoutError), hold(lock_path, timeout=0.05):
        pass


def test_a_removed_lock_file_is_noticed_and_taken_again(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    lock = new_lock(locks, lock_path)
    assert lock.acquire() and lock.still_ours()
    os.unlink(lock_path)
    assert not lock.still_ours() and not is_locked(lock_path)
    assert lock.retake()
    assert lock.still_ours() and is_locked(lock_path) and lock.held


def test_retake_fails_when_someone_else_locked_the_new_file(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    lock = new_lock(locks, lock_path)
    assert lock.acquire()
    os.unlink(lock_path)
    other = new_lock(locks, lock_path)  # a second daemon that found the instance free
    assert other.acquire(grace=0)
    assert not lock.retake()
    assert lock.held and not lock.still_ours()  # it keeps what it had; the caller says so


def test_lock_holder_names_the_process_that_holds_the_lock(
    lock_path: str, holder: subprocess.Popen[str]
) -> None:
    assert lock_holder(lock_path) == holder.pid
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_holder(lock_path) is None


def test_lock_holder_of_a_free_or_missing_lock_is_none(
    lock_path: str, locks: list[InstanceLock]
) -> None:
    assert lock_holder(lock_path) is None  # no file
    lock = InstanceLock(lock_path)
    assert lock.acquire()
    locks.append(lock)
    assert lock_holder(lock_path) == os.getpid()
    lock.release()
    assert lock_holder(lock_path) is None
