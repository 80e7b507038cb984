"""Process identity that survives PID recycling.

A pid alone names a process only until it exits; the kernel then hands the
number to someone else. ``(pid, starttime, boot id)`` names one process for
ever: starttime is field 22 of ``/proc/PID/stat`` (clock ticks since boot),
and the boot id tells two boots apart. Anything we record about a process
and later signal goes through ``ProcessIdentity.matches_live()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@cache
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def starttime(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(b")") + 2 :].split()
    return int(rest[19])


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    starttime: int
    boot_id: str

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        ticks = starttime(pid)
        return None if ticks is None else cls(pid, ticks, boot_id())

    @classmethod
    def current(cls) -> ProcessIdentity:
        me = cls.of(os.getpid())
        assert me is not None
        return me

    def matches_live(self) -> bool:
        """Is the process we recorded still the one running under this pid?"""
        return self.boot_id == boot_id() and starttime(self.pid) == self.starttime
