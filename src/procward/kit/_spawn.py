"""Start a daemon detached from the caller, and learn whether it came up.

The parent ``posix_spawnp``s the daemon command (looked up on ``PATH``) in a
new session with stdin on ``/dev/null`` and stdout/stderr appended to the
daemon log, and hands it the write end of a pipe (the *ready pipe*) as fd 3.
The daemon forks once more (so it is nobody's child and never a zombie of a
long-lived caller), does its start-up, and writes to the pipe, in one write,
then closes it:

- ``ready <pid>`` once it serves, followed by one ``warn <text>`` line per
  problem the caller should hear of although the daemon runs (a listener
  that could not bind, say); or
- ``error <text>`` when it cannot start (address in use, unsafe
  directory, ...).

The parent blocks on the first line with a deadline, so a caller never polls
a socket that will never appear and always sees the daemon's own error text;
after ``ready`` it reads the rest of that write (to EOF, which follows at
once). Each line is one line: the daemon folds newlines in a text into spaces.

Compatibility: the ``warn`` lines come after ``ready`` so that a parent that
reads only the first line (before they existed) still starts such a daemon;
and a daemon that writes no ``warn`` lines is what this parent has always
read. A parent ignores any other kind of line, for what may come later.

The deadline passing is not a failure: the pipe is still open, so the daemon
is alive and starting (``StillStarting``). EOF without a line means it died.

The child marks the pipe close-on-exec as soon as it takes it, so supervised
programs never inherit it.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Collection, Mapping, Sequence

from procward.kit._errors import StartFailed, StillStarting

READY_FD_ENV = "DAEMONKIT_READY_FD"
_READY_FD = 3


class Started:
    """What a detached daemon reported: its pid, and warnings about its start."""

    __slots__ = ("pid", "warnings")

    def __init__(self, pid: int, warnings: list[str]) -> None:
        self.pid = pid
        self.warnings = warnings

    def __repr__(self) -> str:
        return f"Started(pid={self.pid}, warnings={self.warnings!r})"


def start_detached(
    argv: Sequence[str],
    *,
    log_path: str,
    timeout: float = 5.0,
    env: Mapping[str, str] | None = None,
) -> Started:
    """Run ``argv`` as a detached daemon; its pid and warnings once it reports ready.

    Raises ``StartFailed`` with the daemon's reason when it cannot start, and
    its subclass ``StillStarting`` when ``timeout`` passes first.
    """
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


def _await_ready(read_end: int, pid: int, timeout: float, log_path: str) -> Started:
    deadline = time.monotonic() + timeout
    data = _read(read_end, deadline, until_line=True)
    if data is None:  # the pipe is open: the daemon lives, and is still at it
        raise StillStarting(timeout, log_path)
    first, _, rest = data.decode(errors="replace").partition("\n")
    if first.startswith("ready"):
        word = first.split()[1:] or [str(pid)]
        # The rest came in the same write; EOF follows at once. A child that
        # forked without exec may hold the pipe open: do not wait for it.
        grace = min(deadline, time.monotonic() + 0.1)
        rest += (_read(read_end, grace, until_line=False) or b"").decode(errors="replace")
        warnings = [line[len("warn ") :] for line in rest.splitlines() if line.startswith("warn ")]
        return Started(int(word[0]), warnings)
    if first.startswith("error "):
        raise StartFailed(first[len("error ") :].strip())
    code = _reap(pid, wait=1.0)
    how = f" (exit status {code})" if code else ""
    raise StartFailed(f"it exited before reporting ready{how}; see {log_path}")


def _read(fd: int, deadline: float, *, until_line: bool) -> bytes | None:
    """What comes on ``fd`` until a whole line (or EOF); None if the deadline passes first."""
    data = b""
    while not (until_line and b"\n" in data):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None if until_line else data
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


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

    def ready(self, pid: int | None = None, warnings: Sequence[str] = ()) -> None:
        """Serving; ``warnings`` are for the caller, who may tell its user."""
        self._send(f"ready {pid or os.getpid()}\n" + "".join(_line("warn", w) for w in warnings))

    def fail(self, text: str) -> None:
        self._send(_line("error", text))

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


def _line(kind: str, text: str) -> str:
    return f"{kind} {' '.join(text.split())}\n"


def close_inherited(keep: Collection[int]) -> None:
    """Close every descriptor above 2 this process inherited, except ``keep``.

    A daemon lives long: a pipe its starter's shell had open (a ``$(...)``
    capture, a test runner's, an editor's) would stay open as long as it
    does, and whoever reads that pipe would wait for an EOF that never comes.
    Inherited means inheritable: what Python opens itself is close-on-exec
    (PEP 446), so this never closes the process's own files; ``keep`` names
    the inherited ones it is meant to take (activated sockets, what an
    upgrade hands over).
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: leave them
        return
    for fd in fds:
        if fd <= 2 or fd in keep:
            continue
        try:
            if os.get_inheritable(fd):
                os.close(fd)
        except OSError:  # the listing's own descriptor, already closed
            pass


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
