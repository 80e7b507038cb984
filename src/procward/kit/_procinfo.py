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


# The boot clock's nanoseconds per clock tick of /proc/PID/stat (USER_HZ).
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
_clock_agrees: bool | None = None  # the boot clock against /proc, checked once


def born_between(pid: int, before_ns: int, after_ns: int) -> ProcessIdentity | None:
    """The identity of our child ``pid``, started between two reads of the boot clock.

    The kernel stamps a process at its fork with the boot clock
    (``CLOCK_BOOTTIME``) and shows that stamp in /proc/PID/stat in clock
    ticks. When both reads fall in one tick (a spawn takes about a
    millisecond, a tick ten), that tick is the starttime, with no read of
    /proc — which costs some 70 µs for a process still in its exec, against
    13 µs later. The first such answer is checked against /proc; should they
    ever disagree (a kernel that counts otherwise), /proc is read from then
    on. None if the process is already gone.
    """
    global _clock_agrees
    tick = before_ns // _TICK_NS
    if _clock_agrees is False or tick != after_ns // _TICK_NS:
        return ProcessIdentity.of(pid)
    if _clock_agrees is None:
        read = starttime(pid)
        if read is None:
            return None
        _clock_agrees = read == tick
        tick = read
    return ProcessIdentity(pid, tick, boot_id())


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
