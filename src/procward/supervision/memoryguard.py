"""``max_memory``: restart an instance whose memory stays above it (PM2's ``max_memory_restart``).

"Stays" is two samples in a row, so one spike (a big request, a garbage
collector's peak) is not a restart. ``MemoryRule`` is that rule and nothing
else: readings in, instances to restart out, no clock and no process, so
its tests feed it plain numbers.

``MemoryGuard`` is the shell: while an instance of an app with
``max_memory`` runs, it reads the memory of those instances only (their
cgroups where the daemon uses them, else one pass over ``/proc``) every
``interval`` seconds on the supervisor's timers, whether metrics sampling
is on or not, and stops once none is left to watch, so a daemon with no such
app never runs it. In a cgroup with the memory controller, ``memory.high``
is set at ``max_memory`` (``cgroups.limits_of``): the kernel then reclaims
at the limit and counts each time it is passed (``memory.events``), so a
sample also counts as over when that count grew since the last one.

A restart goes the way of a failed health check (``machine.OverMemory``):
the stop signal, the exit judged by the restart policy, and the reason in
``last_error`` and the event history: ``memory 612 MB over max_memory 500 MB``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from procward.supervision.machine import OverMemory, State

if TYPE_CHECKING:
    from procward.supervision.host import Cancellable, Label, Timers
    from procward.supervision.instance import Instance
    from procward.supervision.metrics import Usage

__all__ = ["DEFAULT_INTERVAL", "MemoryGuard", "MemoryRule", "Reading", "describe"]

log = logging.getLogger("procward.supervision")

DEFAULT_INTERVAL = 5.0
SAMPLES = 2  # in a row over the limit: restart

Reading = tuple[int, int, bool]  # (memory bytes, limit bytes, the cgroup says it went over)


class MemoryRule:
    """Which instances were over their limit ``SAMPLES`` samples in a row."""

    def __init__(self, samples: int = SAMPLES) -> None:
        self.samples = samples
        self.over: dict[tuple[Label, int], int] = {}  # (label, pid) -> samples over so far

    def observe(self, readings: dict[tuple[Label, int], Reading]) -> list[tuple[Label, str]]:
        """One sample of every watched instance; those to restart, with why.

        Keyed by pid too: a new process starts from zero. An instance not in
        ``readings`` (stopped, restarted, no longer watched) is forgotten.
        """
        now: dict[tuple[Label, int], int] = {}
        due = []
        for key, (memory, limit, went_over) in readings.items():
            if memory <= limit and not went_over:
                continue
            count = self.over.get(key, 0) + 1
            if count >= self.samples:
                due.append((key[0], describe(memory, limit)))
            else:
                now[key] = count
        self.over = now
        return due


def describe(memory: int, limit: int) -> str:
    """``memory 612 MB over max_memory 500 MB`` (MB: 2**20 bytes, as the config reads)."""
    return f"memory {_mb(memory)} over max_memory {_mb(limit)}"


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.0f} MB" if size >= 1 << 20 else f"{size} bytes"


class MemoryGuard:
    """Samples the instances of apps with ``max_memory`` while any runs."""

    def __init__(self, sup: GuardedSupervisor, timers: Timers) -> None:
        self.sup = sup
        self.timers = timers
        self.rule = MemoryRule()
        self._timer: Cancellable | None = None
        self._high: dict[str, int] = {}  # cgroup -> memory.events' "high" at the last sample

    @property
    def running(self) -> bool:
        return self._timer is not None

    def watch(self) -> None:
        """Sample from now on (if not already)."""
        if self._timer is None:
            self._timer = self.timers.call_later(self.sup.memory_interval, self.sample)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.rule = MemoryRule()

    def sample(self) -> None:
        self._timer = None
        watched = [i for i in self.sup.memory_watched() if i.state is State.RUNNING]
        if not watched:
            self.rule = MemoryRule()
            return  # until the next such instance spawns (Host.watch_memory)
        try:
            readings = self.readings(watched)
        except OSError as exc:
            log.warning("max_memory: cannot read memory use: %s", exc)
            readings = {}
        by_label = {i.key: i for i in watched}
        for label, why in self.rule.observe(readings):
            inst = by_label[label]
            log.warning("%s: %s; restarting it", inst.label, why)
            inst.app.note_error(f"instance {inst.index}: {why}")
            inst.send(OverMemory(why))
        self._timer = self.timers.call_later(self.sup.memory_interval, self.sample)

    def readings(self, watched: Iterable[Instance]) -> dict[tuple[Label, int], Reading]:
        chosen = [i for i in watched if i.pgid is not None and i.record.pid is not None]
        usage = self.sup.measure_groups([i.pgid for i in chosen if i.pgid is not None])
        found = {}
        for inst in chosen:
            measured: Usage | None = usage.get(inst.pgid) if inst.pgid is not None else None
            limit = inst.spec.max_memory
            if measured is None or limit is None or inst.record.pid is None:
                continue
            found[(inst.key, inst.record.pid)] = (measured.rss, limit, self._went_over(inst))
        return found

    def _went_over(self, inst: Instance) -> bool:
        """Did the kernel count a pass over ``memory.high`` since the last sample?"""
        cgroups = inst.host.cgroups
        if cgroups is None or inst.cgroup is None or "memory" not in cgroups.enabled:
            return False
        count = cgroups.memory_events(inst.cgroup)
        if count is None:
            return False
        before = self._high.get(inst.cgroup, count)
        self._high[inst.cgroup] = count
        return count > before


if TYPE_CHECKING:
    from typing import Protocol

    class GuardedSupervisor(Protocol):
        memory_interval: float  # seconds between samples

        def memory_watched(self) -> list[Instance]: ...

        def measure_groups(self, groups: Iterable[int]) -> dict[int, Usage]: ...
