"""``procward events`` across restarts: the ring saved in ``<state_dir>/events.json``.

The history itself is ``supervision.events`` (a bounded ring in memory).
Saved when it changed, every ``SAVE_INTERVAL`` seconds in a thread (temp
file, fsync, rename, ``.bak`` kept) and when the daemon stops or upgrades;
read back at start, before the apps come back, so ``procward events`` after
``down``/``up``, an upgrade or a reboot still answers "what happened at 3
a.m.?". After a crash the last ``SAVE_INTERVAL`` seconds may be missing (the
daemon log has them). An unreadable file is logged and a new history begins.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from procward.daemon.savedfile import SavedFile
from procward.kit import fastjson

if TYPE_CHECKING:
    from procward.kit.paths import InstancePaths
    from procward.kit.scheduler import Scheduler
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")

SAVE_INTERVAL = 30.0


class EventFileMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``sup``, ``paths`` and ``scheduler``."""

    if TYPE_CHECKING:
        paths: InstancePaths
        scheduler: Scheduler

        @property
        def sup(self) -> Supervisor: ...

    _events_file: SavedFile | None = None

    @property
    def events_file(self) -> SavedFile:
        if self._events_file is None:
            events = self.sup.events
            self._events_file = SavedFile(
                os.path.join(self.paths.state_dir, "events.json"),
                "events history",
                lambda: fastjson.dumps(events.saved()).encode() if events.dirty else None,
                lambda: setattr(events, "dirty", True),
            )
        return self._events_file

    def start_event_file(self) -> None:
        rows = self.events_file.load(fastjson.loads)
        if rows is not None:
            try:
                self.sup.events.restore(rows)
            except ValueError as exc:
                log.error("events history unreadable, starting a new one: %s", exc)
        self.sup.events.dirty = False
        self.scheduler.every(SAVE_INTERVAL, self.events_file.save_soon, name="events-save")

    async def save_events(self) -> None:
        """Write the history now (stop, upgrade)."""
        await self.events_file.save()
