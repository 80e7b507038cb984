"""The single-instance lock.

``daemon.lock`` is flock'd exclusively for the daemon's whole life. The kernel
drops the lock when the holder dies, however it dies, so "is the lock held?"
answers "is the daemon alive?" without trusting any pid: a recycled pid cannot
hold our lock. The file is opened once and never replaced or removed: a rename
or unlink would hand the lock to a new inode while the old one is still held,
and two daemons could then both believe they are alone.

Probing takes a shared lock for an instant. A daemon that starts during that
instant sees its exclusive lock refused, so ``InstanceLock.acquire`` retries
for a short grace period before it concludes another daemon is running.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


class InstanceLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, grace: float = 0.2) -> bool:
        """Take the lock; False if another process holds it past ``grace`` s."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + grace
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in _BUSY or time.monotonic() >= deadline:
                    os.close(fd)
                    if exc.errno in _BUSY:
                        return False
                    raise
                time.sleep(0.005)
                continue
            self._fd = fd
            return True

    def adopt(self, fd: int) -> None:
        """Hold the lock already taken through ``fd`` (handed over across an exec)."""
        os.set_inheritable(fd, False)
        self._fd = fd

    def fileno(self) -> int:
        assert self._fd is not None, "the lock is not held"
        return self._fd

    def still_ours(self) -> bool:
        """Is the file at ``path`` still the one we hold? (False if removed or replaced.)"""
        if self._fd is None:
            return False
        try:
            return os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except OSError:
            return False

    def retake(self) -> bool:
        """After the file was removed: lock a new one at ``path``, unless someone did first."""
        old, self._fd = self._fd, None
        try:
            taken = self.acquire(grace=0.0)
        except OSError:
            taken = False
        if taken:
            if old is not None:
                os.close(old)
        else:
            self._fd = old
        return taken

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last fd drops the flock
            self._fd = None


def is_locked(path: str) -> bool:
    """Does some process hold ``path`` locked right now?"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY:
            return True
        raise
    finally:
        os.close(fd)
    return False


def lock_holder(path: str) -> int | None:
    """The pid of the process holding ``path`` flock'd exclusively; None if none (or unknown).

    Why: ``daemon.json`` names the daemon's pid, but a file can be stale or
    edited by hand, and the pid in it may then be some unrelated live
    process. The kernel's lock table cannot be edited: ``/proc/locks`` lists
    every lock with the pid that took it (for a flock, the process that
    called ``flock``; the daemon takes its lock after its last fork and keeps
    its pid across an upgrade's exec) and the locked file as
    ``major:minor:inode`` (major and minor in hex). Reading it costs one
    small read; it is consulted when the file and the lock must agree.
    """
    try:
        st = os.stat(path)
        with open("/proc/locks", "rb") as f:
            table = f.read()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}".encode()
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2148466 0 EOF"; a waiter's line has
        # "->" after the number, so its fields do not line up and it is skipped.
        fields = line.split()
        if fields[1:4] == [b"FLOCK", b"ADVISORY", b"WRITE"] and fields[5:6] == [wanted]:
            try:
                return int(fields[4])
            except ValueError:
                return None
    return None


class hold:  # noqa: N801 - used like the function it replaced: `with hold(path, 5):`
    """Hold an exclusive flock on ``path`` (created if needed) for a block.

    Used around spawning so that racing clients start one daemon, not ten. A
    class rather than ``@contextlib.contextmanager``: the CLI's auto-spawn path
    imports this module, and ``contextlib`` costs it 4 ms.
    """

    __slots__ = ("_fd", "path", "timeout")

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd = -1

    def __enter__(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in _BUSY and time.monotonic() < deadline:
                    time.sleep(0.005)
                    continue
                os.close(fd)
                if exc.errno not in _BUSY:
                    raise
                raise TimeoutError(
                    f"timed out after {self.timeout:g}s waiting for {self.path}"
                ) from None
        self._fd = fd

    def __exit__(self, *exc_info: object) -> None:
        os.close(self._fd)
        self._fd = -1
