"""The audit log: who called which operator or admin method, and what came of it.

Every operator/admin call and every refused call becomes one row of the
``audit`` table in ``procward.db``. Recording must never slow down or break
the RPC path, so ``record()`` only appends to a bounded in-memory queue. One
writer thread inserts whatever has piled up in a single transaction (a burst
of 5,000 calls is one commit, not 5,000), in WAL mode with
``synchronous=NORMAL`` so a commit does not wait for an fsync.

What can go wrong, and why it is handled as it is:

* The queue is full (the disk is slower than the callers, or gone): the
  oldest entries are dropped and counted, and a row saying how many is
  written as soon as writing works again, so the gap shows in the log itself.
* A write fails (disk full, read-only file system, file moved): the batch goes
  back to the queue, the error is logged once per distinct message, and the
  writer retries on a fresh connection with backoff; ``flush()`` asks for a
  retry at once.
* The file is not a database, or is corrupt: it is moved aside as
  ``procward.db.corrupt-<unix time>`` for a human to look at and a new one is
  started. The daemon keeps serving in every case.

Params never hold secrets: the value of any key named ``token``,
``password`` or ``secret`` (at any depth) is stored as ``"***"``, and the
compact JSON is cut at 2,000 characters. Masking and encoding happen on the
writer thread, so ``record()`` costs the loop a lock and an append.

``user_version`` is file-wide: when events and uptime history join this file,
one module should own the schema version for all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from procward.kit.rpc import Peer

log = logging.getLogger("procward.daemon.audit")

SCHEMA_VERSION = 1
MAX_PENDING = 10_000
MAX_PARAMS_CHARS = 2_000
SECRET_KEYS = frozenset({"token", "password", "secret"})
MASK = "***"
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts while writing fails
BUSY_TIMEOUT = 5.0  # another connection holding the write lock
QUERY_FLUSH_TIMEOUT = 2.0

Params: TypeAlias = dict[str, Any] | list[Any] | None

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    transport TEXT NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    method TEXT NOT NULL,
    params TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
PRAGMA user_version = {SCHEMA_VERSION};
"""
COLUMNS = (
    "id",
    "time",
    "transport",
    "who",
    "role",
    "method",
    "params",
    "outcome",
    "error",
    "duration_ms",
)
INSERT = f"INSERT INTO audit ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * 9)})"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One call as the audit log keeps it.

    ``params`` are the caller's, unmasked: they are masked and encoded later on
    the writer thread, so do not change them after ``record()``.
    """

    time: float  # unix time the call arrived
    transport: str  # "unix", "tcp" or "http"
    who: str  # "uid 1000 pid 4242", or a token's subject
    role: str
    method: str
    params: Params
    outcome: str  # "ok" or "error"
    error: str | None
    duration_ms: float

    @classmethod
    def for_call(
        cls,
        peer: Peer,
        method: str,
        params: Params,
        *,
        started: float,
        duration_ms: float,
        error: str | None = None,
    ) -> AuditEntry:
        outcome = "ok" if error is None else "error"
        role = peer.role.name.lower()
        return cls(
            started,
            peer.transport,
            describe(peer),
            role,
            method,
            params,
            outcome,
            error,
            duration_ms,
        )


def describe(peer: Peer) -> str:
    """The ``who`` of a peer: its token's subject, else its Unix credentials."""
    if peer.subject is not None:
        return peer.subject
    parts = [
        f"uid {peer.uid}" if peer.uid is not None else "",
        f"pid {peer.pid}" if peer.pid is not None else "",
    ]
    return " ".join(p for p in parts if p) or "unknown"


def masked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and k.lower() in SECRET_KEYS else masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def encode_params(params: Params) -> str | None:
    """Compact JSON of ``params``, secrets masked, at most MAX_PARAMS_CHARS long."""
    if params is None:
        return None
    try:
        text = json.dumps(masked(params), separators=(",", ":"), ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError) as exc:  # odd keys, a cycle, absurd depth
        text = json.dumps(f"<params not encodable: {exc}>")
    if len(text) <= MAX_PARAMS_CHARS:
        return text
    return text[: MAX_PARAMS_CHARS - 1] + "…"


def decode_params(text: str | None) -> Any:
    """What ``encode_params`` stored; a truncated text stays text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def row_of(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        entry.time,
        entry.transport,
        entry.who,
        entry.role,
        entry.method,
        encode_params(entry.params),
        entry.outcome,
        entry.error,
        entry.duration_ms,
    )


def drop_notice(dropped: int) -> AuditEntry:
    error = f"{dropped} audit entries were dropped: the queue was full"
    params = {"dropped": dropped}
    return AuditEntry(
        time.time(), "internal", "procward", "daemon", "audit.dropped", params, "error", error, 0.0
    )


def is_corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def set_aside(path: str) -> str:
    """Move a broken database (and its WAL) out of the way; the new name."""
    aside = f"{path}.corrupt-{int(time.time())}"
    n = 1
    while os.path.exists(aside):
        n += 1
        aside = f"{path}.corrupt-{int(time.time())}.{n}"
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):  # a stale WAL would be replayed into the new file
        with contextlib.suppress(FileNotFoundError):
            os.replace(path + suffix, aside + suffix)
    return aside


def connect(path: str) -> sqlite3.Connection:
    """A connection for writing, schema in place; raises what SQLite or the OS raise."""
    # Create the file ourselves so it is 0600 from the start; SQLite gives the
    # -wal and -shm files the mode of the database.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version} is newer than {SCHEMA_VERSION}")
        conn.executescript(SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def open_database(path: str, *, broken: bool = False) -> sqlite3.Connection:
    """``connect``, after moving the file aside if it is (or is known to be) corrupt."""
    if not broken:
        try:
            return connect(path)
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            reason = str(exc)
    else:
        reason = "corrupt"
    aside = set_aside(path)
    log.error("%s is not a usable database (%s); kept it as %s, starting anew", path, reason, aside)
    return connect(path)


def read_uri(path: str) -> str:
    """A URI that opens ``path`` without ever creating it (a query must not make a 0644 file)."""
    quoted = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{quoted}?mode=rw"


class AuditLog:
    """The audit table of one daemon: ``record`` from the loop, ``query`` from a thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, AuditEntry]] = deque()  # (sequence number, entry)
        self._accepted = 0  # entries ever accepted; the next sequence number
        self._in_flight: int | None = None  # sequence number of the batch being written
        self._dropped = 0  # dropped and not yet reported in the table
        self._attempts = 0
        self._last_failed = -1  # number of the last attempt that failed
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST
        self._closing = False
        self._last_try = False  # the one attempt after close() has been made
        self._gave_up = False  # the writer stopped with entries unwritten
        self._broken = False
        self._reported: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open()
        self._thread = threading.Thread(target=self._run, name="procward-audit", daemon=True)
        self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        """Queue ``entry`` to be written; never blocks on the disk, never raises."""
        with self._cond:
            if self._closing:
                self._report_once(
                    "record after close", "audit log closed; dropping %s", entry.method
                )
                return
            self._queue.append((self._accepted, entry))
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
            self._report_once(
                "close timeout", "audit log %s: writer still busy at close", self.path
            )

    def query(
        self, limit: int = 100, since: float | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` entries that match, oldest first.

        Blocks (call it through ``asyncio.to_thread``); raises ``sqlite3.Error``
        or ``OSError`` when the database cannot be read.
        """
        self.flush(QUERY_FLUSH_TIMEOUT)
        clauses: list[str] = ["1"]
        args: list[Any] = []
        if since is not None:
            clauses.append("time >= ?")
            args.append(since)
        if method is not None:
            clauses.append("method = ?")
            args.append(method)
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM (SELECT * FROM audit WHERE {' AND '.join(clauses)}"
            " ORDER BY id DESC LIMIT ?) ORDER BY id"
        )
        uri = read_uri(self.path)
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)) as conn:
            rows = conn.execute(sql, [*args, max(0, limit)]).fetchall()
        return [self._as_dict(row) for row in rows]

    @staticmethod
    def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
        entry = dict(zip(COLUMNS, row, strict=True))
        entry["params"] = decode_params(entry["params"])
        return entry

    # The writer thread.

    def _run(self) -> None:
        while (work := self._take()) is not None:
            batch, dropped = work
            if self._write([e for _, e in batch], dropped):
                self._settle(dropped)
            else:
                self._put_back(batch)
        with self._cond:
            lost = len(self._queue)
        if lost:
            log.error("audit log %s: %d entries could not be written and are lost", self.path, lost)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _take(self) -> tuple[list[tuple[int, AuditEntry]], int] | None:
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
            self._in_flight = batch[0][0]
            self._attempts += 1
            return batch, self._dropped

    def _due(self) -> bool:
        return bool(self._queue) and time.monotonic() >= self._retry_at

    def _pause(self) -> float | None:
        return max(0.0, self._retry_at - time.monotonic()) if self._queue else None

    def _write(self, batch: list[AuditEntry], dropped: int) -> bool:
        rows = [row_of(e) for e in ([drop_notice(dropped)] if dropped else []) + batch]
        try:
            conn = self._conn or self._reopen()
            with conn:  # one transaction for the whole batch
                conn.executemany(INSERT, rows)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return False
        self._recovered()
        return True

    def _open(self) -> sqlite3.Connection | None:
        try:
            return self._reopen()
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return None

    def _reopen(self) -> sqlite3.Connection:
        broken, self._broken = self._broken, False
        self._conn = open_database(self.path, broken=broken)
        return self._conn

    def _fail(self, exc: BaseException) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        self._broken = is_corrupt(exc) and os.path.exists(self.path)
        self._report_once(
            f"{type(exc).__name__}: {exc}",
            "audit log %s: cannot write (%s); keeping up to %d entries in memory, retrying",
            self.path,
            exc,
            MAX_PENDING,
        )
        with self._cond:
            self._last_failed = self._attempts
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
            self._cond.notify_all()

    def _recovered(self) -> None:
        if self._retry_delay > RETRY_FIRST:
            log.info("audit log %s: writing again", self.path)
        self._retry_delay = RETRY_FIRST

    def _settle(self, dropped: int) -> None:
        with self._cond:
            self._in_flight = None
            self._dropped -= dropped
            self._cond.notify_all()

    def _put_back(self, batch: list[tuple[int, AuditEntry]]) -> None:
        with self._cond:
            self._in_flight = None
            self._queue.extendleft(reversed(batch))
            self._trim()
            self._cond.notify_all()

    # Under the lock.

    def _trim(self) -> None:
        while len(self._queue) > MAX_PENDING:
            self._queue.popleft()
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
