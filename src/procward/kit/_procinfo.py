"""Process identity that survives PID recycling.

A pid alone names a process only until it exits; the kernel then hands the
number to someone else. ``(pid, starttime, boot id)`` names one process for
ever: starttime is field 22 of ``/proc/PID/stat`` (clock ticks since boot),
and the boot id tells two boots apart. Anything we record about a process
and later signal goes through ``ProcessIdentity.matches_live()``.
"""

from __future__ import annotations

import os

_boot_id: str | None = None


def boot_id() -> str:
    global _boot_id
    if _boot_id is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot_id = f.read().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


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


class ProcessIdentity:
    # A plain class: CLI commands such as `down` use it, and `dataclasses`
    # would cost more to import than the command takes to run.
    __slots__ = ("boot_id", "pid", "starttime")

    def __init__(self, pid: int, starttime: int, boot_id: str) -> None:
        self.pid = pid
        self.starttime = starttime
        self.boot_id = boot_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProcessIdentity) and (
            (self.pid, self.starttime, self.boot_id) == (other.pid, other.starttime, other.boot_id)
        )

    def __hash__(self) -> int:
        return hash((self.pid, self.starttime, self.boot_id))

    def __repr__(self) -> str:
        return f"ProcessIdentity(pid={self.pid}, starttime={self.starttime})"

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
