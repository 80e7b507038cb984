"""Start a daemon detached from the caller, and learn whether it came up.

The parent ``posix_spawnp``s the daemon command (looked up on ``PATH``) in a
new session with stdin on ``/dev/null`` and stdout/stderr appended to the
daemon log, and hands it the write end of a pipe (the *ready pipe*) as fd 3.
The daemon forks once more (so it is nobody's child and never a zombie of a
long-lived caller), does its start-up, and writes one line to the pipe:
``ready <pid>`` once it serves, or ``error <text>`` when it cannot (address in
use, unsafe directory, ...). The parent blocks on that line with a deadline,
so a caller never polls a socket that will never appear and always sees the
daemon's own error text.

The child marks the pipe close-on-exec as soon as it takes it, so supervised
programs never inherit it.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Mapping, Sequence

from procward.kit.errors import StartFailed

READY_FD_ENV = "DAEMONKIT_READY_FD"
_READY_FD = 3


def start_detached(
    argv: Sequence[str],
    *,
    log_path: str,
    timeout: float = 5.0,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` as a detached daemon; return its pid once it reports ready."""
    read_end, write_end = os.pipe()
    child_env = dict(os.environ if env is None else env)
    child_env[READY_FD_ENV] = str(_READY_FD)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log_path, flags, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
        (os.POSIX_SPAWN_DUP2, write_end, _READY_FD),
    ]
    try:
        pid = os.posix_spawnp(argv[0], list(argv), child_env, file_actions=actions, setsid=True)
    except OSError as exc:
        os.close(read_end)
        raise StartFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    finally:
        os.close(write_end)
    try:
        return _await_ready(read_end, pid, timeout, log_path)
    finally:
        os.close(read_end)
        _reap(pid, wait=1.0)


def _await_ready(read_end: int, pid: int, timeout: float, log_path: str) -> int:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StartFailed(f"it did not report ready within {timeout:g}s (see {log_path})")
        readable, _, _ = select.select([read_end], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        data += chunk
    line = data.decode(errors="replace").strip()
    if line.startswith("ready"):
        word = line.split()[1:] or [str(pid)]
        return int(word[0])
    if line.startswith("error "):
        raise StartFailed(line[len("error ") :])
    code = _reap(pid, wait=1.0)
    how = f" (exit status {code})" if code else ""
    raise StartFailed(f"it exited before reporting ready{how}; see {log_path}")


def _reap(pid: int, wait: float = 0.0) -> int | None:
    """Collect the spawned (intermediate) process; it exits right after forking."""
    deadline = time.monotonic() + wait
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


class ReadyPipe:
    """The daemon's end of the ready pipe (absent when nobody is waiting)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        os.set_inheritable(fd, False)

    @classmethod
    def from_env(cls) -> ReadyPipe | None:
        # Popped so that nothing this daemon starts sees it.
        raw = os.environ.pop(READY_FD_ENV, None)
        if raw is None:
            return None
        try:
            return cls(int(raw))
        except (ValueError, OSError):
            return None

    def ready(self, pid: int | None = None) -> None:
        self._send(f"ready {pid or os.getpid()}\n")

    def fail(self, text: str) -> None:
        self._send("error " + " ".join(text.split()) + "\n")

    def _send(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line.encode())
        except OSError:  # the parent may have given up waiting
            pass
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


def detach() -> None:
    """Fork once more and let the parent go: the daemon becomes nobody's child.

    Called by a daemon started through ``start_detached`` before it starts any
    thread or event loop. The intermediate process exits at once and is reaped
    by the spawner; the surviving child is not a session leader, so it can
    never acquire a controlling terminal.
    """
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
