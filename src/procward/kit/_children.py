"""Children a thread waits for by pid, which a reaper of ``waitpid(-1)`` must leave alone.

Why this exists: a subreaper (and PID 1 of a container above all) must reap
every zombie, the orphaned grandchildren its apps leave as well as its own
children, so its reaper drains ``waitpid(-1)``. Code that waits for a child
by pid — ``subprocess.run`` in a thread, as an upgrade's pre-flight does —
then races it: when the reaper collects that child first, ``subprocess``
gets ``ECHILD`` and reports exit status 0, a failure read as success.

So such code runs its child through ``run``: the child is *claimed* from
the fork until its waiter has collected it. A reaper asks ``held()`` under
``lock``: with no claim it drains ``waitpid(-1)`` as before (the usual
case, one syscall per exit); with claims it peeks at each exited child
(``WNOWAIT``) and reaps only those nobody claimed. The lock is held across
the fork and the claim, so a child that exits at once cannot be reaped
before it is claimed. When a claim ends, ``on_release`` runs (the reaper
schedules a pass: what exited behind the claimed child is collected then).

The same lock keeps a ``run`` from starting while another thread has
stepped into a child's working directory to spawn it (``posix_spawn`` has
no ``cwd`` of its own: supervision's ``process._at``); so a child started
here without a ``cwd`` gets the process's own, never a passing one.

One registry per process, as a process has one set of children.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CLAIMS", "ChildClaims", "run"]


class ChildClaims:
    """The pids whose exit status belongs to a waiter other than the reaper."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pids: set[int] = set()
        self.on_release: Callable[[], object] = lambda: None

    def held(self) -> frozenset[int]:
        """The claimed pids; call with ``lock`` held."""
        return frozenset(self.pids)

    def release(self, pid: int) -> None:
        with self.lock:
            self.pids.discard(pid)
        self.on_release()


CLAIMS = ChildClaims()


def run(argv: Sequence[str], *, timeout: float, **popen: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(argv, timeout=...)`` with the child claimed until it is collected.

    As ``subprocess.run``: the output is captured when asked (``capture_output``,
    ``text``), the child is killed at the timeout (``TimeoutExpired``).
    """
    if popen.pop("capture_output", False):
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    with CLAIMS.lock:
        child = subprocess.Popen(argv, **popen)
        CLAIMS.pids.add(child.pid)
    try:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise
        return subprocess.CompletedProcess(child.args, child.wait(), out, err)
    finally:
        if child.returncode is None:
            child.kill()
            child.wait()
        CLAIMS.release(child.pid)
