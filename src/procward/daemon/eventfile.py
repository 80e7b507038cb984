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

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from procward.kit import fastjson
from procward.kit.atomic import read_with_fallback, write_atomic
from procward.kit.errors import CorruptFile

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

    _events_saving: asyncio.Future[None] | None = None

    @property
    def events_path(self) -> str:
        return os.path.join(self.paths.state_dir, "events.json")

    def start_event_file(self) -> None:
        try:
            rows = read_with_fallback(self.events_path, fastjson.loads)
            if rows is not None:
                self.sup.events.restore(rows)
        except (CorruptFile, ValueError) as exc:
            log.error("events history unreadable, starting a new one: %s", exc)
        self.sup.events.dirty = False
        self.scheduler.every(SAVE_INTERVAL, self._save_events_soon, name="events-save")

    def _save_events_soon(self) -> None:
        busy = self._events_saving is not None and not self._events_saving.done()
        if busy or not self.sup.events.dirty:
            return
        data = _encode(self.sup.events.saved())
        loop = asyncio.get_running_loop()
        self._events_saving = loop.run_in_executor(None, _write, self.events_path, data)

    async def save_events(self) -> None:
        """Write the history now (stop, upgrade), after a save still under way."""
        if self._events_saving is not None:
            await self._events_saving
        if self.sup.events.dirty:
            _write(self.events_path, _encode(self.sup.events.saved()))


def _encode(rows: list[list[Any]]) -> bytes:
    return fastjson.dumps(rows).encode()


def _write(path: str, data: bytes) -> None:
    try:
        write_atomic(path, data, backup=True)
    except OSError as exc:
        log.error("cannot save the events history to %s: %s", path, exc.strerror or exc)
