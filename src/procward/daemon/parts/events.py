"""``procward events`` across restarts: the ring saved in ``<state_dir>/events.json``.

The history itself is ``supervision.events`` (a bounded ring in memory).
Saved by a ``kit.Snapshot`` when it changed, every ``SAVE_INTERVAL`` seconds
in a thread (temp file, fsync, rename, ``.bak`` kept) and when the daemon
stops or upgrades;
read back at start, before the apps come back, so ``procward events`` after
``down``/``up``, an upgrade or a reboot still answers "what happened at 3
a.m.?". After a crash the last ``SAVE_INTERVAL`` seconds may be missing (the
daemon log has them). An unreadable file is logged and a new history begins.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from procward.kit import _fastjson as fastjson
from procward.kit._snapshot import Snapshot

if TYPE_CHECKING:
    from procward.kit._scheduler import Scheduler
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")

SAVE_INTERVAL = 30.0


class EventHistory:
    """The events kept in ``events.json`` across restarts (no RPC methods of its own)."""

    def __init__(self, sup: Supervisor, state_dir: str, scheduler: Scheduler) -> None:
        self.sup = sup
        self.scheduler = scheduler
        events = sup.events
        self.events_file = Snapshot(
            os.path.join(state_dir, "events.json"),
            lambda: fastjson.dumps(events.saved()).encode() if events.dirty else None,
            what="events history",
        )

    def start(self) -> None:
        rows = self.events_file.load(fastjson.loads)
        if rows is not None:
            try:
                self.sup.events.restore(rows)
            except ValueError as exc:
                log.error("events history unreadable, starting a new one: %s", exc)
        self.sup.events.dirty = False
        self.scheduler.every(SAVE_INTERVAL, self.events_file.flush, name="events-save")

    async def save(self) -> None:
        """Write the history now, and stop the writer's thread (stop, upgrade)."""
        await self.events_file.close()
