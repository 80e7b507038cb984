"""The daemon's uptime history: ``<state_dir>/uptime.json`` and ``getUptime``.

The history itself is ``supervision.uptime``. Saved by a ``kit.Snapshot``
every ``SAVE_INTERVAL`` seconds when something was counted (temp file,
fsync, rename, previous kept as ``.bak``; in a thread, so the loop never
waits on the disk) and when the daemon stops. A daemon killed between
saves loses at most that much counting, never the days before. An
unreadable file (and ``.bak``) is logged and a new history begins; the
daemon does not refuse to start over its statistics.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from procward.kit import _fastjson as fastjson
from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Role, method
from procward.kit._snapshot import Snapshot
from procward.supervision.uptime import KEEP_DAYS, UptimeHistory

if TYPE_CHECKING:
    from procward.kit._scheduler import Scheduler
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")

SAVE_INTERVAL = 300.0
DEFAULT_DAYS = 30


class Uptime:
    """``getUptime``, and the history kept in ``uptime.json``."""

    def __init__(self, sup: Supervisor, state_dir: str, scheduler: Scheduler) -> None:
        self.sup = sup
        self.scheduler = scheduler
        self.uptime_file = Snapshot(
            os.path.join(state_dir, "uptime.json"), self._uptime_data, what="uptime history"
        )

    def start(self) -> None:
        """Take up the saved history (before the apps come back), then save it now and then."""
        days = self.uptime_file.load(_parse)
        if days is not None:
            self.sup.uptime.days = days
        self.scheduler.every(SAVE_INTERVAL, self.uptime_file.flush, name="uptime-save")

    def stop(self) -> None:
        """Stop counting (the apps are about to be stopped by us, not to fail)."""
        self.sup.uptime.pause()

    async def save(self) -> None:
        """Write the history now, and stop the writer's thread (stop, upgrade)."""
        await self.uptime_file.close()

    def _uptime_data(self) -> bytes | None:
        history = self.sup.uptime
        history.settle()
        if not history.dirty:
            return None
        history.dirty = False
        return fastjson.dumps(history.to_json()).encode()

    @method(Role.VIEWER, result="UptimeReport")
    def getUptime(
        self, ctx: CallContext, name: str | None = None, days: int = DEFAULT_DAYS
    ) -> dict[str, Any]:
        """Per app and UTC day: seconds up, partly up and down while meant to run.

        ``uptime`` is the share of counted time the app was fully up over the
        ``days`` shown; days with no data (stopped, or no daemon) are null.
        """
        if not 1 <= days <= KEEP_DAYS:
            raise InvalidParams(f"days must be 1..{KEEP_DAYS}, got {days}")
        # The apps there are: a deleted app's history went with it (and a file
        # saved by an older daemon may still hold one).
        names = sorted(self.sup.apps) if name is None else [self.sup.app(name).name]
        return {"days": days, "apps": self.sup.uptime.report(names, days)}


def _parse(raw: bytes) -> dict[str, dict[int, list[float]]]:
    history = UptimeHistory()
    history.load(fastjson.loads(raw))
    return history.days
