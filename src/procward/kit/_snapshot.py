"""``Snapshot``: a file that holds the latest state of something, rewritten as it changes.

A daemon keeps several: its state (``state.json``), histories (uptime,
events), a status line for shell prompts. Each is written the same way,
so there is one writer:

- **debounced**: ``changed()`` schedules one write ``delay`` seconds after
  the first change of a burst (500 apps starting make one write, not 500),
  and, with ``spacing``, no sooner than ``spacing`` seconds after the previous
  write (a crash storm changes the state hundreds of times a second: a few
  writes a second, not one per ``delay``) — nor sooner than ten times what the
  last ``take()`` cost the loop, so that snapshots of a big state (5,000 apps:
  ~0.1 s to make) never take more than a tenth of the loop while it changes;
- **snapshot in the loop, bytes on a worker**: ``take()`` runs in the event
  loop, so what it sees is consistent; with ``thread=True`` the bytes are
  written by one worker thread of its own (writes stay in order, and the loop
  never waits on a slow disk); with ``thread=False`` they are written at once
  (a small file on tmpfs);
- **atomic**: ``kit.atomic.write_atomic`` (temp file, fsync, rename), the
  previous file kept as ``.bak`` with ``backup=True``;
- **periodic, if asked**: ``baseline()`` (a scheduler job) writes when
  something changed since the last save, when the last write failed, or when
  the file is not the one it wrote (removed, replaced, cut short);
- **once more at the end**: ``close()`` writes and stops the worker;
  ``abandon()`` stops without writing (a start that failed changed nothing
  worth keeping); ``remove()`` takes the file away (a runtime file).

``take()`` returns the bytes to write, or None when there is nothing new (a
history that did not change since it was last taken).

A write that fails (a full disk, decision 0031) stops nothing: ``problem``
says why (``cannot save <path>: <reason>``) until a write succeeds; it is
logged once, and once more when a write works again. The bytes that could
not be written are kept and written by the next attempt when ``take()`` has
nothing newer, so a history whose changes were taken is not lost. Whoever
must answer for durability (an operator's change) awaits ``save()`` and
reads ``problem``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from procward.kit._atomic import file_version, read_with_fallback, write_atomic
from procward.kit._errors import CorruptFile

log = logging.getLogger("procward.kit.snapshot")
T = TypeVar("T")


class Handle(Protocol):
    def cancel(self) -> None: ...


class Timer(Protocol):
    """What schedules the debounced write: the running loop, or a test's ``ManualTimer``."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Handle: ...


TAKE_SHARE_INVERSE = 10  # with spacing: a write at most every 10 x what the last take cost


class Snapshot:
    def __init__(
        self,
        path: str,
        take: Callable[[], bytes | None],
        *,
        what: str = "",
        delay: float = 0.01,
        thread: bool = True,
        backup: bool = True,
        mode: int = 0o600,
        failing: str = "",
        level: int = logging.ERROR,
        timer: Timer | None = None,
        spacing: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what``: its name in the log ("uptime history"); ``failing``: what a
        failed write means for the reader of the log, appended to its line;
        ``level``: of that line (a prompt's file is worth a warning at most)."""
        self.path = path
        self.take = take
        self.what = what
        self.delay = delay
        self.spacing = spacing
        self._clock = clock  # the timer's: the loop's is time.monotonic
        self._last_flush: float | None = None
        self._take_cost = 0.0  # seconds the last take() held the loop
        self.backup = backup
        self.mode = mode
        self.failing = failing
        self.level = level
        self.writes = 0  # that succeeded
        self.problem: str | None = None  # why the last write failed; None once one works
        self._thread = thread
        self._timer = timer
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: Handle | None = None
        self._changes = 0  # changes seen, and how many of them the last save covered
        self._saved = 0
        self._unsaved: bytes | None = None  # what a failed write could not put on disk
        self._written: tuple[int, int, int, int] | None = None  # the file as we left it

    def changed(self) -> None:
        """Something changed: write ``delay`` seconds from the first change of a burst."""
        self._changes += 1
        if self._pending is None:
            wait = self.delay
            if self.spacing and self._last_flush is not None:
                gap = max(self.spacing, TAKE_SHARE_INVERSE * self._take_cost)
                wait = max(wait, self._last_flush + gap - self._clock())
            timer = self._timer or asyncio.get_running_loop()
            self._pending = timer.call_later(wait, self.flush)

    def flush(self) -> concurrent.futures.Future[None]:
        """Snapshot now and write it; the write's future (done at once without a thread)."""
        self._cancel_pending()
        self._saved = self._changes
        self._last_flush = started = self._clock()
        data = self.take()
        self._take_cost = self._clock() - started
        if data is None:
            data = self._unsaved  # nothing new: what failed last time, if anything
        if data is not None and self._thread:
            if self._worker is None:
                self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="save")
            return self._worker.submit(self._write, data)
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if data is not None:
            self._write(data)
        done.set_result(None)
        return done

    def baseline(self) -> concurrent.futures.Future[None] | None:
        """The periodic write: only if changed, failed, or the file is not as we left it.

        A write that would change nothing is skipped: an idle daemon stays idle
        (rewriting ``state.json`` every 30 s tripled its CPU, 0.004 % to 0.012 %).
        The write's future, None when skipped.
        """
        stale = self._written != file_version(self.path)
        if self._saved != self._changes or self._unsaved is not None or stale:
            return self.flush()
        return None

    async def save(self) -> None:
        """Snapshot now and wait until it is written (or failed: see ``problem``)."""
        await asyncio.wrap_future(self.flush())

    async def close(self) -> None:
        """The last write, then stop the worker."""
        await self.save()
        self._stop_worker()

    def abandon(self) -> None:
        """Stop without a last write: the file keeps what was last saved."""
        self._cancel_pending()
        self._stop_worker()

    def remove(self) -> None:
        """Stop, and take the file away (a runtime file, such as a status line)."""
        self.abandon()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove %s: %s", self.path, exc)

    def load(self, parse: Callable[[bytes], T]) -> T | None:
        """What was saved (or its ``.bak``); None if nothing usable was, logged."""
        try:
            return read_with_fallback(self.path, parse)
        except (CorruptFile, ValueError) as exc:
            log.error("%s unreadable, starting a new one: %s", self.what or self.path, exc)
            return None

    def _write(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data, backup=self.backup, mode=self.mode)
        except OSError as exc:
            self._failed(data, exc)
            return
        self.writes += 1
        self._unsaved = None
        # Gone already (removed between our rename and this stat): never "as we left it".
        self._written = file_version(self.path) or (-1, -1, -1, -1)
        if self.problem is not None:
            log.warning("saved %s again", self._named())
        self.problem = None

    def _failed(self, data: bytes, exc: OSError) -> None:
        self._unsaved = data
        reason = exc.strerror or str(exc)
        if self.problem is None:  # a full disk fails every write: said once
            log.log(self.level, "cannot save %s: %s%s", self._named(), reason, self.failing)
        self.problem = f"cannot save {self.path}: {reason}"

    def _named(self) -> str:
        return f"the {self.what} to {self.path}" if self.what else self.path

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
