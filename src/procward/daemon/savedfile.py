"""``SavedFile``: a history the daemon keeps in memory and writes now and then.

The uptime history and the events ring are saved the same way: when they
changed, every so often in a worker thread (so the loop never waits on the
disk), and once more, synchronously, when the daemon stops or upgrades.
Each write is atomic (temp file, fsync, rename) and keeps the previous file
as ``.bak``; reading falls back to it. A write that fails is logged and
tried again at the next save; an unreadable file is logged and the history
starts anew: statistics never stop a daemon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from procward.kit.atomic import read_with_fallback, write_atomic
from procward.kit.errors import CorruptFile

log = logging.getLogger("procward.daemon")
T = TypeVar("T")


class SavedFile:
    def __init__(
        self, path: str, what: str, take: Callable[[], bytes | None], retry: Callable[[], None]
    ) -> None:
        self.path = path
        self.what = what  # "uptime history", for the log
        self.take = take  # the bytes to write if changed (and no longer changed), else None
        self.retry = retry  # mark it changed again: a write failed
        self._saving: asyncio.Future[None] | None = None
        self._failing = False  # a full disk fails every save: said once, until one works

    def load(self, parse: Callable[[bytes], T]) -> T | None:
        """What was saved, None if nothing was (or nothing usable: logged)."""
        try:
            return read_with_fallback(self.path, parse)
        except (CorruptFile, ValueError) as exc:
            log.error("%s unreadable, starting a new one: %s", self.what, exc)
            return None

    def save_soon(self) -> None:
        """Write in a thread if it changed, unless the last write is still going."""
        if self._saving is not None and not self._saving.done():
            return
        data = self.take()
        if data is not None:
            self._saving = asyncio.get_running_loop().run_in_executor(None, self._write, data)

    async def save(self) -> None:
        """Write now if it changed, after a write still under way (stop, upgrade)."""
        if self._saving is not None:
            await self._saving
        data = self.take()
        if data is not None:
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data, backup=True)
        except OSError as exc:
            self.retry()
            if not self._failing:
                log.error("cannot save the %s to %s: %s", self.what, self.path, exc.strerror or exc)
            self._failing = True
            return
        if self._failing:
            log.warning("saved the %s to %s again", self.what, self.path)
        self._failing = False
