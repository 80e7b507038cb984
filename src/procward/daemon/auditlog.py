"""The audit log: who called which operator or admin method, and what came of it.

Every operator/admin call and every refused call becomes one line of JSON in
``<state_dir>/logs/audit.jsonl`` (keys, masking: see ``auditentry``).

Why JSON Lines, not SQLite (decision 0015): importing ``sqlite3`` and opening
a WAL database cost the daemon ~1.9 MiB of RSS out of a 22 MiB budget at 10
apps (supervisord: 18.9 MiB), paid by every ``procward up -c``. ``json`` is
loaded anyway, and the file is greppable and ``jq``-able. Given up: indexed
queries; ``query`` reads backwards from the end, which suits what ``procward
audit`` asks for (the last few, maybe since a time or of one method).

``record()`` only encodes the entry (its params already bounded and masked,
see ``auditentry``) and appends the line to an in-memory queue bounded in
entries and in bytes, so the RPC path never waits for the disk and a flood
of calls holds a few MiB at most (the queue, and the batch being written,
which left it). One writer thread appends what has piled up as one
``os.write`` of whole lines (O_APPEND, mode 0600): a crash leaves at most a
torn last line, which ``query`` skips and the next writer ends with a newline.
No fsync: the audit log is as durable as the daemon log, written the same way
(a daemon crash loses nothing written; a machine crash, the last seconds of
both). Past 10 MiB it is renamed ``audit.jsonl.1`` (.1 to .2 …, 5 kept) before
the next batch, at a line boundary. The limits are per log (``Limits``): the
daemon keeps refusals in a log of their own (decision 0029), so that no
number of them can rotate the changes away.

When the queue is full (entries or bytes), the oldest entries are dropped and
counted, and an ``audit.dropped`` entry says how many once writing works
again. When a write
fails (disk full, unwritable directory), the whole lines that made it stay, a
torn one is cut off, the rest goes back to the queue, the error is logged once
per distinct message, and the writer retries on a fresh descriptor with
backoff (``flush()`` asks for a retry at once). The daemon serves on anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from typing import Any

from procward.daemon.auditentry import AuditEntry, backwards, drop_notice, encode, ends_at, parse
from procward.kit._rotation import rotate, rotated_names
from procward.kit._structs import Struct

log = logging.getLogger("procward.daemon.audit")

MAX_PENDING = 10_000
MAX_QUEUED_BYTES = 4 * 1024 * 1024
MAX_BYTES = 10 * 1024 * 1024  # rotate once the live file is past this
BACKUPS = 5
CLOCK_SLACK = 60.0  # seconds a ``since`` query reads past, for clock steps
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts while writing fails
QUERY_FLUSH_TIMEOUT = 2.0


class Limits(Struct):
    """What one audit log holds: in memory before it is written, and on disk."""

    entries: int = MAX_PENDING  # queued lines
    queued_bytes: int = MAX_QUEUED_BYTES  # their bytes
    file_bytes: int = MAX_BYTES  # the live file is rotated past this
    backups: int = BACKUPS  # rotated files kept


class AuditLog:
    """One audit file: ``record`` from the loop, ``query`` from a thread."""

    def __init__(self, path: str, limits: Limits | None = None) -> None:
        self.path = path
        self.limits = Limits() if limits is None else limits
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, bytes]] = deque()  # (sequence number, line)
        self._queued_bytes = 0
        self._accepted = 0  # entries ever accepted; the next sequence number
        self._in_flight: int | None = None  # sequence number of the batch being written
        self._dropped = 0  # dropped and not yet reported in the file
        self._attempts = 0
        self._last_failed = -1  # number of the last attempt that failed
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST
        self._closing = False
        self._last_try = False  # the one attempt after close() has been made
        self._gave_up = False  # the writer stopped with entries unwritten
        self._reported: set[str] = set()
        self._fd: int | None = None  # the writer thread's
        self._rotating = threading.Lock()  # held while renaming, and while a query opens
        self._thread = threading.Thread(target=self._run, name="procward-audit", daemon=True)
        self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        """Queue ``entry`` to be written; never blocks on the disk, never raises."""
        line = encode(entry)
        with self._cond:
            if self._closing:
                self._report_once("closed", "audit log closed; dropping %s", entry.method)
                return
            self._queue.append((self._accepted, line))
            self._queued_bytes += len(line)
            self._accepted += 1
            self._trim()
            if len(self._queue) == 1:
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until all recorded so far is written (or dropped as overflow).

        False when ``timeout`` passes first, or as soon as a write attempted
        after this call fails.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            target, attempts = self._accepted, self._attempts
            while self._watermark() < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._last_failed > attempts or self._gave_up:
                    return False
                # Retry now, not after the backoff (also when an attempt that
                # began before this call has just failed).
                self._retry_at = 0.0
                self._cond.notify_all()
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Make a last attempt to write what is queued, then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._report_once("busy", "audit log %s: writer still busy at close", self.path)

    def query(
        self, limit: int = 100, since: float | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` entries that match, oldest first.

        Reads back from the end of the live file, then the backups, only as far
        as it must. Blocks (call it through ``asyncio.to_thread``); raises
        ``OSError`` when a file exists but cannot be read.
        """
        self.flush(QUERY_FLUSH_TIMEOUT)
        found: list[dict[str, Any]] = []
        bad = 0
        with contextlib.ExitStack() as stack:
            with self._rotating:  # the files all before a rotation, or all after it
                there = [p for p in self.files() if os.path.isfile(p)]
                opened = [stack.enter_context(open(p, "rb")) for p in there]
            for raw in (line for f in opened for line in backwards(f)):
                if len(found) >= limit:
                    break
                if not raw.strip():
                    continue
                if (row := parse(raw)) is None:
                    bad += 1
                elif since is not None and row["time"] < since:
                    if ends_at(row) < since - CLOCK_SLACK:
                        break  # all before it ended before ``since`` too
                elif method is None or row.get("method") == method:
                    found.append(row)
        if bad:
            log.warning("audit log %s: skipped %d lines that are not entries", self.path, bad)
        found.reverse()
        return found

    def statistics(self) -> dict[str, int]:
        """What waits in memory now: queued lines and their bytes; entries dropped, not yet said."""
        with self._cond:
            return {
                "queued": len(self._queue),
                "queued_bytes": self._queued_bytes,
                "dropped": self._dropped,
            }

    def files(self) -> list[str]:
        """The live file, then the backups, newest first."""
        return rotated_names(self.path, self.limits.backups)

    # The writer thread.

    def _run(self) -> None:
        while (work := self._take()) is not None:
            batch, dropped = work
            self._settle(batch, dropped, self._write([line for _, line in batch], dropped))
        with self._cond:
            lost = len(self._queue)
        if lost:
            log.error("audit log %s: %d entries could not be written and are lost", self.path, lost)
        self._close_fd()

    def _take(self) -> tuple[list[tuple[int, bytes]], int] | None:
        """Wait for work; None when closing and the last attempt is done."""
        with self._cond:
            while not (self._closing or self._due()):
                self._cond.wait(self._pause())
            if self._closing and (self._last_try or not self._queue):
                self._gave_up = bool(self._queue)
                self._cond.notify_all()
                return None
            self._last_try = self._closing  # after close: one attempt, no backoff
            batch = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._in_flight = batch[0][0]
            self._attempts += 1
            return batch, self._dropped

    def _due(self) -> bool:
        return bool(self._queue) and time.monotonic() >= self._retry_at

    def _pause(self) -> float | None:
        return max(0.0, self._retry_at - time.monotonic()) if self._queue else None

    def _write(self, batch: list[bytes], dropped: int) -> int:
        """Append the drop notice (if any) and ``batch``; how many lines made it."""
        lines = ([encode(drop_notice(dropped))] if dropped else []) + batch
        data = b"".join(lines)
        fd, size, done = -1, 0, 0
        try:
            fd, size = self._ready()
            while done < len(data):  # one write, unless the disk fills up halfway
                done += os.write(fd, data[done:])
        except OSError as exc:
            whole = data.rfind(b"\n", 0, done) + 1
            if whole < done:  # cut the torn line off; else the next open ends it
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size + whole)
            self._fail(exc)
            return data.count(b"\n", 0, whole)
        if self._retry_delay > RETRY_FIRST:
            log.info("audit log %s: writing again", self.path)
        self._retry_delay = RETRY_FIRST
        return len(lines)

    def _ready(self) -> tuple[int, int]:
        """The descriptor to append to and the file's size; (re)opened and rotated as due."""
        if self._fd is not None:
            try:
                current = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if not current:  # moved or deleted behind our back: start a new file
                self._close_fd()
        if self._fd is None:
            self._fd = self._open()
        size = os.fstat(self._fd).st_size
        if size > self.limits.file_bytes:
            self._close_fd()
            self._rotate()
            self._fd = self._open()
            size = os.fstat(self._fd).st_size
        return self._fd, size

    def _open(self) -> int:
        fd = os.open(
            self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        try:
            os.fchmod(fd, 0o600)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # end a line torn by a crash, so the next one is whole
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _rotate(self) -> None:
        """audit.jsonl -> .1 -> .2 …; the oldest backup goes. Best effort."""
        try:
            with self._rotating:
                rotate(self.path, self.limits.backups)
        except OSError as exc:  # keep writing to the big file rather than lose entries
            self._report_once(f"rotate {exc}", "audit log %s: cannot rotate (%s)", self.path, exc)

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _fail(self, exc: OSError) -> None:
        self._close_fd()
        msg = "audit log %s: cannot write (%s); keeping up to %d entries in memory, retrying"
        self._report_once(f"{type(exc).__name__}: {exc}", msg, self.path, exc, self.limits.entries)
        with self._cond:
            self._last_failed = self._attempts
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
            self._cond.notify_all()

    def _settle(self, batch: list[tuple[int, bytes]], dropped: int, written: int) -> None:
        """Forget what was written; what was not goes back to the front of the queue."""
        with self._cond:
            self._in_flight = None
            if dropped and written:
                self._dropped -= dropped
                written -= 1
            self._queue.extendleft(reversed(batch[written:]))
            self._queued_bytes += sum(len(line) for _, line in batch[written:])
            self._trim()
            self._cond.notify_all()

    # Under the lock.

    def _trim(self) -> None:
        limits = self.limits
        while len(self._queue) > limits.entries or self._queued_bytes > limits.queued_bytes:
            self._queued_bytes -= len(self._queue.popleft()[1])
            self._dropped += 1
        if self._dropped:
            self._report_once("overflow", "audit log %s: queue full, dropping oldest", self.path)

    def _watermark(self) -> int:
        """Sequence number of the oldest entry neither written nor dropped."""
        if self._in_flight is not None:
            return self._in_flight
        return self._queue[0][0] if self._queue else self._accepted

    def _report_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.error(message, *args)
