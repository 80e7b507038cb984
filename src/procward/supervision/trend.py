"""The last few minutes of each app's CPU and memory: what the dashboard's sparklines draw.

Kept only while metrics sampling is on (``Metrics`` records a point after
each sample and drops the whole trend when sampling stops). Every app is
read at the same moments, so one ring of times serves them all; an app
holds two arrays of 32-bit floats (NaN: not measured then), 480 bytes at
60 points, so 500 apps cost ~0.3 MiB, not the ~4 MiB of tuples of floats.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping

__all__ = ["POINTS", "Trend"]

POINTS = 60  # 5 minutes at the default 5 s interval

Point = tuple[float | None, float | None]  # (cpu %, memory bytes) summed over the instances


class Trend:
    """A ring of ``points`` samples, each an app's (cpu, memory), oldest overwritten."""

    def __init__(self, points: int = POINTS) -> None:
        self.points = points
        self.times = array("d", [math.nan]) * points
        self.apps: dict[str, tuple[array[float], array[float]]] = {}
        self.count = 0  # points recorded so far

    def record(self, at: float, usage: Mapping[str, Point]) -> None:
        """One sample: ``usage`` per app; an app not in it has left the trend."""
        slot = self.count % self.points
        self.times[slot] = at
        for gone in self.apps.keys() - usage.keys():
            del self.apps[gone]
        for name, (cpu, memory) in usage.items():
            series = self.apps.get(name)
            if series is None:
                blank = array("f", [math.nan]) * self.points
                series = self.apps[name] = (blank, array("f", blank))
            series[0][slot] = math.nan if cpu is None else cpu
            series[1][slot] = math.nan if memory is None else memory
        self.count += 1

    def slots(self, after: float | None = None) -> list[int]:
        """The slots holding samples, oldest first (only those taken after ``after``)."""
        kept = min(self.count, self.points)
        first = self.count - kept
        order = [(first + i) % self.points for i in range(kept)]
        return order if after is None else [s for s in order if self.times[s] > after]

    def series(self, name: str, slots: list[int]) -> tuple[list[float | None], list[float | None]]:
        """``name``'s CPU (% of a core, 0.1 steps) and memory (bytes) at ``slots``."""
        cpu, memory = self.apps[name]
        return (
            [_rounded(cpu[s], 1) for s in slots],
            [_rounded(memory[s], None) for s in slots],
        )


def _rounded(value: float, digits: int | None) -> float | None:
    if math.isnan(value):
        return None
    return round(value, digits) if digits is not None else float(round(value))
