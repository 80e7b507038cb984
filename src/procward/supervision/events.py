"""What happened to the instances, most recent last: the ``procward events`` history.

Every state change of every instance becomes one event (time, app,
instance, from, to, pid, and why: an exit status, a probe's verdict, an
operator's stop), kept in a bounded ring in memory and pushed to anyone
following. It answers the first question after an incident — "what
happened at 3 a.m.?" — without reading the daemon log: ``web:0 running ->
backoff (killed by SIGKILL)``, ``web:0 backoff -> starting``, …

Memory is bounded (``CAPACITY`` events as tuples, ~150 bytes each); followers
get a bounded queue and a count of what they missed when they lag, as log
followers do. The daemon saves the ring (``saved`` / ``restore``) now and
then and when it stops or upgrades, so the history outlives a restart; after
a crash, the last moments before it may be missing (the daemon log has them).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["CAPACITY", "Event", "EventFollower", "EventLog", "as_dict"]

CAPACITY = 2000
FOLLOW_QUEUE = 1000

# (time, app, instance, before, after, pid, why)
Event = tuple[float, str, int, str, str, int | None, str | None]


def as_dict(event: Event) -> dict[str, Any]:
    when, app, index, before, after, pid, why = event
    return {
        "time": when,
        "app": app,
        "instance": index,
        "from": before,
        "to": after,
        "pid": pid,
        "why": why,
    }


class EventFollower:
    """One ``followEvents`` subscription: bounded, counting what it missed."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        self.queue: asyncio.Queue[Event] = asyncio.Queue(FOLLOW_QUEUE)
        self.missed = 0

    def push(self, event: Event) -> None:
        if self.name is not None and event[1] != self.name:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.missed += 1


class EventLog:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.ring: deque[Event] = deque(maxlen=capacity)
        self.followers: set[EventFollower] = set()
        # Told of each event as it happens, in the pass that made it (``--exit-on``).
        self.listeners: list[Callable[[Event], None]] = []
        self.dirty = False  # added to since the last ``saved()``

    def add(  # noqa: PLR0917 - one event's fields
        self,
        app: str,
        index: int,
        before: str,
        after: str,
        pid: int | None,
        why: str | None,
    ) -> None:
        event = (time.time(), app, index, before, after, pid, why)
        self.ring.append(event)
        self.dirty = True
        for follower in self.followers:
            follower.push(event)
        for listener in self.listeners:
            listener(event)

    def recent(
        self, limit: int, name: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events (of one app, after a time), oldest first."""
        found: list[Event] = []
        for event in reversed(self.ring):
            if len(found) >= limit or (since is not None and event[0] < since):
                break
            if name is None or event[1] == name:
                found.append(event)
        return [as_dict(event) for event in reversed(found)]

    def saved(self) -> list[list[Any]]:
        """The ring as JSON-able rows, oldest first; not dirty any more."""
        self.dirty = False
        return [list(event) for event in self.ring]

    def restore(self, rows: object) -> int:
        """Put saved rows back before what was added since; how many were usable."""
        if not isinstance(rows, list):
            raise ValueError("not a list of events")
        kept = [event for row in rows if (event := _event(row)) is not None]
        self.ring = deque([*kept, *self.ring], maxlen=self.ring.maxlen)
        return len(kept)


def _event(row: object) -> Event | None:
    """A saved row, if it is one; else None (skipped, not fatal)."""
    if not isinstance(row, list) or len(row) != 7:
        return None
    when, app, index, before, after, pid, why = row
    if not (
        isinstance(when, int | float)
        and isinstance(app, str)
        and isinstance(index, int)
        and isinstance(before, str)
        and isinstance(after, str)
        and (pid is None or isinstance(pid, int))
        and (why is None or isinstance(why, str))
    ):
        return None
    return (float(when), app, index, before, after, pid, why)
