"""CPU and memory of each instance: its whole process group, read from /proc.

An instance is everything in its process group (a shell and what it runs, a
server and its workers), so that is what is measured: the sum over the
group's live members. One pass over /proc reads ``/proc/PID/stat`` once per
process (``pgrp``, ``utime``+``stime``+``cutime``+``cstime``, ``rss``) for
every instance at once; 500 apps cost one directory listing, not 500. CPU is
the share of one core between two samples (100 % = one core busy), as ``top``
and PM2 show it. ``cutime``/``cstime`` keep a group's total from dropping
when a member exits and is reaped by its parent; what still vanishes (a
member reaped by us) clamps to 0 rather than going negative.

``sample`` is pure apart from the read; ``Meter`` (the shell) keeps the
previous sample and runs on the daemon's scheduler only while metrics are on
(idle CPU budget: metrics off costs nothing). Decision 0011: /proc by hand,
not psutil.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from procward.kit._structs import Struct

__all__ = ["Meter", "Usage", "cpu_percent", "read_usage"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Usage(Struct):
    """One process group (or process) at one moment."""

    ticks: int  # CPU time so far, clock ticks
    rss: int  # resident memory, bytes
    processes: int


def read_usage(groups: Iterable[int]) -> dict[int, Usage]:
    """``{pgid: Usage}`` of the live members of ``groups``, in one pass over /proc."""
    wanted = set(groups)
    totals: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(f"/proc/{entry}/stat")
        if fields is None or int(fields[2]) not in wanted or fields[0] in (b"Z", b"X"):
            continue
        total = totals.setdefault(int(fields[2]), [0, 0, 0])
        total[0] += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        total[1] += int(fields[21]) * PAGE_SIZE
        total[2] += 1
    return {pgid: Usage(*total) for pgid, total in totals.items()}


def process_usage(pid: int) -> Usage | None:
    """One process alone (the daemon itself)."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if fields is None:
        return None
    return Usage(sum(int(f) for f in fields[11:15]), int(fields[21]) * PAGE_SIZE, 1)


def _stat_fields(path: str) -> list[bytes] | None:
    """Fields 3.. of a stat file (state first); comm may hold spaces and ')'."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()


def cpu_percent(before: Usage, after: Usage, seconds: float) -> float:
    """Share of one core used between two samples ``seconds`` apart."""
    if seconds <= 0:
        return 0.0
    used = max(0, after.ticks - before.ticks) / CLOCK_TICKS
    return round(100.0 * used / seconds, 1)


class Reading(Struct):
    cpu: float | None  # None on the first sample of a group: no interval yet
    memory: int
    processes: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"cpu": self.cpu, "memory": self.memory, "processes": self.processes}


class Meter:
    """The last reading of each process group, refreshed by ``sample``."""

    def __init__(
        self,
        groups: Callable[[], Iterable[int]],
        clock: Callable[[], float],
        measure: Callable[[Iterable[int]], dict[int, Usage]] | None = None,
    ) -> None:
        self.groups = groups
        self.clock = clock
        # How groups are measured: /proc, or the supervisor's (their cgroups where they have one).
        self.measure = read_usage if measure is None else measure
        self.readings: dict[int, Reading] = {}
        self.own: Reading | None = None  # the daemon itself
        self.sampled_at: float | None = None  # wall time
        self._previous: dict[int, Usage] = {}
        self._own_previous: Usage | None = None
        self._previous_at = 0.0

    def sample(self) -> None:
        now = self.clock()
        usage = self.measure(self.groups())
        own = process_usage(os.getpid())
        elapsed = now - self._previous_at
        self.readings = {
            pgid: _reading(self._previous.get(pgid), current, elapsed)
            for pgid, current in usage.items()
        }
        self.own = _reading(self._own_previous, own, elapsed) if own is not None else None
        self._previous, self._own_previous, self._previous_at = usage, own, now
        self.sampled_at = time.time()

    def clear(self) -> None:
        """Forget the readings (an on-demand sample must not look current later)."""
        self.readings, self.own, self.sampled_at = {}, None, None
        self._previous, self._own_previous = {}, None

    def reading(self, pgid: int | None) -> Reading | None:
        return self.readings.get(pgid) if pgid is not None else None


def _reading(before: Usage | None, current: Usage, elapsed: float) -> Reading:
    cpu = cpu_percent(before, current, elapsed) if before is not None else None
    return Reading(cpu, current.rss, current.processes)
