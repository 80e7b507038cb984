"""Processes an instance started outside its process group: a stop must reach them too.

Signalling an instance's process group ends everything it started, unless a
program left the group: ``setsid cmd &`` in a script, a program that
daemonizes itself, a shell with job control (``setpgid``). Such a process
survived ``stop`` and ``down``, against the promise of no orphan. Until
cgroups do this for us, two facts find them:

- while its parent lives, it descends from the instance's leader: the
  ``PPid`` chain of ``/proc/PID/stat`` leads there;
- once its parent died, the kernel gave it to the nearest child subreaper,
  the daemon (``process.become_subreaper``). Among the daemon's children,
  one it did not start is such an orphan, and the environment it inherited
  (``PROCWARD_DAEMON``, ``PROCWARD_APP``, ``PROCWARD_INDEX``) says which
  instance it came from. An orphan that replaced its whole environment
  cannot be placed; the daemon ends those when it stops (``stray``).

One scan of ``/proc`` answers for every instance stopped in the same pass of
the loop (a ``stop all`` of 100 apps reads ``/proc`` once): the supervisor
caches a ``ProcessTable`` until the loop's next iteration.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

from procward.kit._procinfo import ProcessIdentity, boot_id

__all__ = ["ProcessTable", "alive", "origin", "signal_each"]


class ProcessTable:
    """One look at every live process: parent, group and start time by pid (no zombies)."""

    def __init__(self, rows: dict[int, tuple[int, int, int]]) -> None:
        self.rows = rows  # pid -> (ppid, pgid, starttime)
        self._children: dict[int, list[int]] | None = None

    @classmethod
    def read(cls) -> ProcessTable:
        rows = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] not in (b"Z", b"X"):
                rows[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[19]))
        return cls(rows)

    def children(self, pid: int) -> list[int]:
        if self._children is None:
            self._children = {}
            for child, (ppid, _pgid, _start) in self.rows.items():
                self._children.setdefault(ppid, []).append(child)
        return self._children.get(pid, [])

    def subtree(self, pid: int) -> list[int]:
        """``pid`` and everything that descends from it."""
        found, stack = [], [pid]
        while stack:
            current = stack.pop()
            if current in self.rows and current not in found:
                found.append(current)
                stack.extend(self.children(current))
        return found

    def identity(self, pid: int) -> ProcessIdentity:
        return ProcessIdentity(pid, self.rows[pid][2], boot_id())

    def escapees(
        self, leader: int | None, pgid: int | None, orphans: Iterable[int]
    ) -> list[ProcessIdentity]:
        """What descends from ``leader`` or from ``orphans`` but is not in group ``pgid``."""
        roots = [*([leader] if leader is not None else []), *orphans]
        pids = {pid for root in roots for pid in self.subtree(root)}
        return [self.identity(pid) for pid in sorted(pids) if self.rows[pid][1] != pgid]

    def orphans(self, reaper: int, known: Iterable[int]) -> list[int]:
        """Children of ``reaper`` (the daemon) that it did not start itself."""
        mine = set(known)
        return [pid for pid in self.children(reaper) if pid not in mine]


def origin(pid: int, marker: bytes) -> tuple[str, int] | None:
    """``(app, index)`` a process was started for, if its environment carries ``marker``.

    ``marker`` is ``PROCWARD_DAEMON=<state dir>``: a process of another daemon
    (an app may run one) is not ours to place.
    """
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    if marker not in env:
        return None
    found = dict(item.partition(b"=")[::2] for item in env if b"=" in item)
    try:
        return found[b"PROCWARD_APP"].decode(), int(found[b"PROCWARD_INDEX"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def signal_each(processes: Iterable[ProcessIdentity], sig: int) -> list[ProcessIdentity]:
    """Send ``sig`` to each process that is still the one recorded; those still there.

    Through a pidfd opened before the identity check, so a pid recycled in
    between is never signalled.
    """
    alive = []
    for proc in processes:
        try:
            fd = os.pidfd_open(proc.pid)
        except (ProcessLookupError, OSError):
            continue
        try:
            if proc.matches_live() and not _zombie(proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    signal.pidfd_send_signal(fd, sig)
                alive.append(proc)
        finally:
            os.close(fd)
    return alive


def alive(processes: Iterable[ProcessIdentity]) -> bool:
    """Is any of them still running (a zombie does not count)?"""
    return any(p.matches_live() and not _zombie(p.pid) for p in processes)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True
