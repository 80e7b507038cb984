"""Uptime history: per app and per day, how long it was up while meant to run.

An app meant to run (``desired``) is, at any moment, *up* (every instance
running, or finished cleanly), *partial* (some are) or *down* (none are). A
stopped app is not counted, nor is any time the daemon was not running:
those days show less time, not downtime, because nobody was watching.

The history changes only when an app's availability does (the supervisor
calls ``note`` on instance transitions and when ``desired`` flips), so it
costs nothing while nothing happens. Each day is a UTC day, kept for
``KEEP_DAYS`` (the seed's 90-day retention with 24-hour segments), as
``[up, partial, down]`` seconds. ``to_json`` / ``from_json`` are the file
format; the daemon saves it every few minutes and when it stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

DAY = 86400
KEEP_DAYS = 90
UP, PARTIAL, DOWN = 0, 1, 2  # index into a day's [up, partial, down] seconds
FORMAT = 1


class UptimeHistory:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.days: dict[str, dict[int, list[float]]] = {}  # app -> day number -> seconds
        self.current: dict[str, tuple[int, float]] = {}  # app -> (availability, since)
        self.dirty = False
        self.paused = False  # the daemon is stopping: what happens now is not counted

    def note(self, name: str, availability: int | None, now: float | None = None) -> None:
        """``name`` is now ``UP``, ``PARTIAL``, ``DOWN``, or not counted (None)."""
        before = self.current.get(name)
        if self.paused or (before is not None and before[0] == availability):
            return
        now = self.clock() if now is None else now
        if before is not None:
            self._add(name, before[0], before[1], now)
        if availability is None:
            self.current.pop(name, None)
        else:
            self.current[name] = (availability, now)

    def forget(self, name: str) -> None:
        """The app is deleted: its history goes (a new app of that name starts afresh)."""
        self.current.pop(name, None)
        if self.days.pop(name, None) is not None:
            self.dirty = True

    def settle(self, now: float | None = None) -> None:
        """Count everything up to ``now``; forget days past ``KEEP_DAYS``."""
        now = self.clock() if now is None else now
        for name, (availability, since) in self.current.items():
            self._add(name, availability, since, now)
            self.current[name] = (availability, now)
        oldest = int(now // DAY) - KEEP_DAYS + 1
        for name in list(self.days):
            days = self.days[name]
            for day in [d for d in days if d < oldest]:
                del days[day]
                self.dirty = True
            if not days and name not in self.current:
                del self.days[name]

    def pause(self, now: float | None = None) -> None:
        """The daemon stops: count up to now, then nothing until ``note`` again."""
        self.settle(now)
        self.current.clear()
        self.paused = True

    def report(
        self, names: Iterable[str], days: int, now: float | None = None
    ) -> list[dict[str, Any]]:
        """The last ``days`` days of each app, oldest first, and its uptime over them."""
        now = self.clock() if now is None else now
        self.settle(now)
        today = int(now // DAY)
        out = []
        for name in names:
            history = self.days.get(name, {})
            shown: list[dict[str, Any]] = []
            totals = [0.0, 0.0, 0.0]
            for day in range(today - days + 1, today + 1):
                seconds = history.get(day)
                if seconds is None:
                    shown.append({"day": _date(day), "up": None, "partial": None, "down": None})
                    continue
                totals = [t + s for t, s in zip(totals, seconds, strict=True)]
                shown.append({"day": _date(day), **_shares(seconds)})
            counted = sum(totals)
            out.append(
                {
                    "name": name,
                    "uptime": round(totals[UP] / counted, 6) if counted else None,
                    "counted": round(counted, 1),
                    "now": _NAMES[self.current[name][0]] if name in self.current else None,
                    "days": shown,
                }
            )
        return out

    def known(self) -> list[str]:
        return sorted(set(self.days) | set(self.current))

    def _add(self, name: str, availability: int, start: float, end: float) -> None:
        if end <= start:
            return
        days = self.days.setdefault(name, {})
        while start < end:
            day = int(start // DAY)
            stop = min(end, (day + 1) * DAY)
            days.setdefault(day, [0.0, 0.0, 0.0])[availability] += stop - start
            start = stop
        self.dirty = True

    # -- the file -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "apps": {
                name: {str(day): [round(s, 1) for s in seconds] for day, seconds in days.items()}
                for name, days in self.days.items()
            },
        }

    def load(self, data: object) -> None:
        """Take the days of a saved ``to_json``; ``ValueError`` if it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an uptime history (format 1)")
        apps = data.get("apps")
        if not isinstance(apps, dict):
            raise ValueError("'apps' must be a table")
        loaded: dict[str, dict[int, list[float]]] = {}
        for name, days in apps.items():
            if not isinstance(days, dict):
                raise ValueError(f"{name}: must be a table of days")
            loaded[name] = {int(day): _seconds(name, day, s) for day, s in days.items()}
        self.days = loaded


_NAMES = ("up", "partial", "down")


def _seconds(name: str, day: str, value: object) -> list[float]:
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(
            isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= DAY for s in value
        )
    ):
        return [float(s) for s in value]
    raise ValueError(f"{name}: day {day}: must be [up, partial, down] seconds")


def _shares(seconds: list[float]) -> dict[str, float]:
    return {key: round(s, 1) for key, s in zip(_NAMES, seconds, strict=True)}


def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))
