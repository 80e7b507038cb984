"""The operating-system side of children: spawn, signal groups, reap.

Why SIGCHLD and ``waitpid(-1)`` rather than a pidfd per child: the daemon is
a child subreaper, so besides its own children it inherits every orphaned
grandchild and must reap those too. One SIGCHLD handler that drains
``waitpid(-1, WNOHANG)`` covers both with one mechanism and no descriptor
per child (500 apps would otherwise hold 500 pidfds); the loop wakes on the
signal, so nothing polls. The consequence: nothing else in the daemon may
wait for children of its own (no ``asyncio`` subprocesses): they would be
reaped here. The daemon's own helpers are reaped here and their status
handed over (``Supervisor.watch_child``); a thread that must wait by pid
claims its child (``kit._children.run``) and the reaper leaves it alone.

Each child leads its own process group (``setpgroup=0``), so a stop or a
kill reaches everything it started. Children start by ``posix_spawn``
(decision 0053): a quarter of ``Popen``'s CPU in the daemon and two thirds
of its wall time, the difference between a cold start near the machine's
floor and one four times it. No descriptor of the daemon reaches a child:
every one is close-on-exec (PEP 446, and libuv's own), and those a child is
given are put in place by the spawn's file actions. ``posix_spawn`` in
Python 3.11 has no ``cwd``: the daemon steps into the child's directory
around the call (``_at``), holding the lock every other spawn of the daemon
holds (``kit._children``), so none starts meanwhile in the wrong place; the
daemon itself never relies on its working directory (it opens absolute
paths only).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.kit import _signals as signals
from procward.kit._children import CLAIMS, ChildClaims
from procward.kit._procinfo import ProcessIdentity, born_between
from procward.kit._structs import Struct
from procward.supervision.capture import open_pipe
from procward.supervision.escapees import ProcessTable
from procward.supervision.spec import Launch

if TYPE_CHECKING:
    from procward.supervision.confinement import ExecReport

log = logging.getLogger("procward.supervision.process")
_PR_SET_CHILD_SUBREAPER = 36


class SpawnError(Exception):
    """The program could not be started; the message says why, for people."""


def become_subreaper() -> bool:
    """Make orphaned descendants ours to reap (Linux ≥ 3.4); False elsewhere.

    One ``prctl`` call through ``_ctypes`` itself: the ``ctypes`` package
    (its dozens of C types, made at import) was ~0.4 MB of the idle daemon's
    RSS for this one call at start; the call alone is half of that.
    """
    try:
        import _ctypes

        class Int(_ctypes._SimpleCData):  # type: ignore[type-arg]
            _type_ = "i"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = Int

        class Libc:
            _handle = _ctypes.dlopen(None, os.RTLD_LOCAL)  # type: ignore[arg-type]  # None: this program

        prctl = Function(("prctl", Libc()))  # type: ignore[arg-type]  # what CDLL gives: _handle
        return bool(prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (ImportError, OSError, AttributeError):
        return False


class Child(Struct, frozen=False):
    identity: ProcessIdentity
    outputs: dict[str, int]  # stream ("out", "err" or "log") -> read end of its pipe
    report: ExecReport | None = None  # a confined spawn's word on its exec (confinement.py)

    @property
    def pid(self) -> int:
        return self.identity.pid


def spawn(launch: Launch, *, merge: bool = False, cgroup: str | None = None) -> Child:
    """Start ``launch`` in a new process group, stdout and stderr on pipes.

    With ``merge``, both go to one pipe (stream "log"), in the order written.
    A ``launch`` with limits or an identity (``confine``) starts through
    ``spawnshim.py``; whether it got to the exec comes later, on
    ``Child.report``, which the caller reads as the loop lets it.
    With ``cgroup`` (an instance's, cgroups.py), the child joins it before
    the program or the shim runs (``_JOIN``).
    """
    if cgroup is not None:
        check_runnable(launch)
    out_r, out_w = open_pipe()
    if merge:
        pipes = {"log": out_r}
        err_w = out_w
    else:
        err_r, err_w = open_pipe()
        pipes = {"out": out_r, "err": err_r}
    status = os.pipe() if launch.confine is not None else None
    try:
        before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        pid = _posix_spawn(launch, out_w, err_w, status, cgroup)
        after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    except (OSError, SpawnError) as exc:
        for fd in pipes.values():
            os.close(fd)
        if status is not None:
            os.close(status[0])
        if isinstance(exc, SpawnError):
            raise
        raise SpawnError(_explain(launch, exc)) from None
    finally:
        os.close(out_w)
        if err_w != out_w:
            os.close(err_w)
        if status is not None:
            os.close(status[1])
    report = None
    if status is not None:
        from procward.supervision.confinement import ExecReport

        def explain(number: int) -> str:
            return _explain(launch, OSError(number, os.strerror(number)))

        report = ExecReport(status[0], explain)
    identity = born_between(pid, before, after) or ProcessIdentity(pid, 0, "")
    return Child(identity, pipes, report)


def last_word(child: Child) -> str | None:
    """Once ``child`` exited: why its program never ran, if its shim said so.

    The shim writes before it exits, so it is all in the pipe by then; the
    report is closed. None for a program that ran, or a spawn with no shim.
    """
    report = child.report
    if report is None:
        return None
    if report.fd >= 0:
        report.read()
        report.close()
    return report.failure()


# Joining a cgroup is a migration, and every migration waits for an RCU grace
# period of the kernel (cgroup_threadgroup_rwsem): 1 ms on a quiet machine,
# 10-20 ms on a busy one. The child waits, in its own time, not the daemon:
# the daemon stepping into the cgroup around its fork blocked the loop that
# long at every spawn (decision 0039). $1 is the cgroup's cgroup.procs, $2..
# what to exec; nothing of the program runs, nor forks, before it is in.
_JOIN = """\
if ! { echo 0 >"$1"; } 2>/dev/null; then
  echo "procward: cannot join the cgroup ${1%/cgroup.procs}" >&2; exit 126
fi
shift
exec "$@"
"""


def _argv(
    launch: Launch, status: tuple[int, int] | None, fd: int, cgroup: str | None = None
) -> tuple[str, ...]:
    """What to exec: the program, or the shim told to report on ``fd``; joining ``cgroup`` first."""
    argv = launch.argv
    if status is not None and launch.confine is not None:
        from procward.supervision.confinement import shim_argv

        argv = shim_argv(launch.confine, launch.argv, launch.env, fd)
    if cgroup is None:
        return argv
    # Before the shim: as the daemon's user, who may write there.
    return ("/bin/sh", "-c", _JOIN, "procward-cgroup", os.path.join(cgroup, "cgroup.procs"), *argv)


# Programs lately found on a PATH, and when: a cold start of 2,000 apps looked
# `sleep` up 2,000 times, a twentieth of its time. One removed meanwhile is
# said by sh, in the app's log, for at most FOUND_FOR.
_found: dict[tuple[str, str | None], float] = {}
FOUND_FOR = 1.0  # seconds
FOUND_KEPT = 256


def check_runnable(launch: Launch) -> None:
    """``SpawnError`` now, as an exec would give, for a launch that starts through sh.

    Said by the daemon, as for other apps, rather than by sh in the app's log.
    """
    import shutil

    if launch.cwd is not None and not os.path.isdir(launch.cwd):
        raise SpawnError(f"working directory {launch.cwd} does not exist")
    program = launch.argv[0]
    if "/" not in program:
        key, now = (program, launch.env.get("PATH")), time.monotonic()
        if now - _found.get(key, -FOUND_FOR) < FOUND_FOR:
            return
        if shutil.which(program, path=key[1]) is None:
            raise SpawnError(f"{program}: command not found")
        if len(_found) >= FOUND_KEPT:
            _found.clear()
        _found[key] = now
        return
    path = os.path.join(launch.cwd or os.getcwd(), program)  # an absolute one stays
    if not os.path.isfile(path):
        raise SpawnError(f"{program}: command not found")
    if not os.access(path, os.X_OK):
        raise SpawnError(f"{program}: permission denied")


def _posix_spawn(
    launch: Launch,
    out_w: int,
    err_w: int,
    status: tuple[int, int] | None = None,
    cgroup: str | None = None,
) -> int:
    """Start ``launch``: stdin from /dev/null, ``pass_fds`` at 3, 4, …, in ``launch.cwd``.

    The shim's status descriptor goes after the passed ones, and closes at
    the program's exec. The program is looked up on the launch's own
    ``PATH``, as ``exec`` would: ``posix_spawnp`` searches the daemon's, so it
    serves only when the two are the same (nearly always).
    """
    status_fd = 3 + len(launch.pass_fds)
    # Above every target, so that no dup2 before its own overwrites it.
    source = fcntl.fcntl(status[1], fcntl.F_DUPFD_CLOEXEC, status_fd + 1) if status else -1
    actions: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
        *((os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(launch.pass_fds)),
        *([(os.POSIX_SPAWN_DUP2, source, status_fd)] if status else []),
    ]
    argv = list(_argv(launch, status, status_fd, cgroup))
    env = launch.env
    program, search = argv[0], "/" not in argv[0]
    if search and env.get("PATH", os.defpath) != os.environ.get("PATH", os.defpath):
        import shutil

        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        program, search = found, False
    start = os.posix_spawnp if search else os.posix_spawn
    try:
        return _at(launch.cwd, lambda: start(program, argv, env, file_actions=actions, setpgroup=0))
    finally:
        if source >= 0:
            os.close(source)


def _at(cwd: str | None, start: Callable[[], int]) -> int:
    """``start()`` with ``cwd`` as the working directory, which a child inherits.

    Under the lock of the daemon's other spawns (``kit._children.run``), so
    none of them starts in ``cwd`` meanwhile; a ``cwd`` that cannot be entered
    is said as such.
    """
    if cwd is None:
        return start()
    with CLAIMS.lock:
        here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                os.chdir(cwd)
            except FileNotFoundError:
                raise SpawnError(f"working directory {cwd} does not exist") from None
            except OSError as exc:
                raise SpawnError(f"working directory {cwd}: {exc.strerror or exc}") from None
            try:
                return start()
            finally:
                os.fchdir(here)
        finally:
            os.close(here)


def _explain(launch: Launch, exc: OSError) -> str:
    program = launch.argv[0]
    if launch.cwd and not os.path.isdir(launch.cwd):
        return f"working directory {launch.cwd} does not exist"
    if exc.errno == errno.ENOENT:
        return f"{program}: command not found"
    if exc.errno == errno.EACCES:
        return f"{program}: permission denied"
    return f"{program}: {exc.strerror or exc}"


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("not allowed to signal process group %d", pgid)
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_groups() -> dict[int, list[int]]:
    """``{pgid: [pid, ...]}`` of every live process; zombies do not count.

    For groups that are not our children (left by a previous daemon): their
    dead are reaped by init, which may take its time, and a zombie is no
    longer running anything.
    """
    groups: dict[int, list[int]] = {}
    for pid, (_ppid, pgid, _start) in ProcessTable.read().rows.items():
        groups.setdefault(pgid, []).append(pid)
    return groups


# The one conversion is ``kit.signals``; this name stays for the daemon's
# importers (daemon/execute.py, daemon/upgrade.py) and state.py until they move.


def describe_status(code: int | None, sig: int | None) -> str:
    """``exit status 3``, ``killed by SIGTERM``: how a process ended, for people."""
    if sig is not None:
        with contextlib.suppress(ValueError):
            return f"killed by SIG{signals.name(sig)}"
        return f"killed by signal {sig}"
    return f"exit status {code}"


class OsSpawner:
    """The real ``Spawner`` (``host.py``): this module's functions and ``/proc``."""

    spawn = staticmethod(spawn)
    signal_group = staticmethod(signal_group)
    group_alive = staticmethod(group_alive)

    def process_table(self) -> ProcessTable:
        return ProcessTable.read()


class Reaper:
    """Drain ``waitpid(-1)`` on SIGCHLD and report every exit to ``on_exit``.

    Every exited child is reaped, known or not: as a subreaper (or PID 1 of a
    container) the daemon inherits orphaned grandchildren, and a zombie
    nobody reaps stays in the process table for good. All but the children a
    thread of the daemon waits for itself (``kit._children``: an upgrade's
    pre-flight in ``subprocess``): while one is claimed, each exited child is
    peeked at (``WNOWAIT``) and only unclaimed ones are reaped, so the
    waiter gets the real status. A claimed child that exited hides those
    behind it until its waiter collects it; the claim's release brings
    another pass.

    In batches of at most ``batch`` exits: when more are waiting, the rest is
    left to a later pass of the loop (``schedule``), so that a storm of exits
    (hundreds of crash-looping children) cannot keep the loop from reading
    pipes, answering calls and firing timers.
    """

    def __init__(
        self,
        on_exit: Callable[[int, int], None],
        schedule: Callable[[Callable[[], None]], object] | None = None,
        batch: int = 64,
        claims: ChildClaims = CLAIMS,
    ) -> None:
        self.on_exit = on_exit
        self.schedule = schedule
        self.batch = batch
        self.claims = claims
        self._again = False  # a later pass is already scheduled

    def reap(self) -> None:
        self._again = False
        with self.claims.lock:  # no claimed child forks meanwhile
            exits, more = _collect(self.batch, self.claims.held())
        if more and self.schedule is not None:  # more may be waiting: after the loop's turn
            self._again = True
            self.schedule(self._reap_again)
        for pid, status in exits:
            try:
                self.on_exit(pid, status)
            except Exception:
                log.exception("handling the exit of pid %d failed", pid)

    def _reap_again(self) -> None:
        if self._again:
            self.reap()


def _collect(batch: int, claimed: frozenset[int]) -> tuple[list[tuple[int, int]], bool]:
    """Up to ``batch`` exits, none of ``claimed``; and whether more may be waiting."""
    exits = []
    for _ in range(batch):
        try:
            if claimed:
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if found is None or found.si_pid in claimed:
                    break  # a claimed one: its waiter collects it, then we go on
                pid, status = os.waitpid(found.si_pid, os.WNOHANG)
            else:
                pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break  # no children at all
        if pid == 0:
            break
        exits.append((pid, status))
    else:
        return exits, True
    return exits, False


def exit_of(status: int) -> tuple[int | None, int | None]:
    """``(code, None)`` for an exit, ``(None, signal)`` for a kill."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status), None
