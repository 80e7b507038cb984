"""The audit log store on real SQLite files: what it keeps, and how it fails.

Disk trouble is made real, not mocked: a location under a regular file (the
tests run as root too, where a read-only directory would not stop anyone) and
a file-size limit (RLIMIT_FSIZE) that makes the next WAL write fail like a
full disk.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from procward.daemon.audit import MAX_PARAMS_CHARS, MAX_PENDING, AuditEntry, AuditLog
from procward.kit.rpc import Peer, Role

LOGGER = "procward.daemon.audit"


def entry(method: str = "startApp", *, at: float | None = None, **params: object) -> AuditEntry:
    return AuditEntry(
        time=time.time() if at is None else at,
        transport="unix",
        who="uid 1000 pid 4242",
        role="admin",
        method=method,
        params=dict(params) or None,
        outcome="ok",
        error=None,
        duration_ms=1.5,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "procward.db")


@pytest.fixture
def audit(db: str) -> Iterator[AuditLog]:
    log = AuditLog(db)
    yield log
    log.close()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "ERROR"]


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes that would grow any file past ``limit`` fail with EFBIG, as on a full disk."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the signal kills us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_record_then_query_returns_every_field(audit: AuditLog) -> None:
    audit.record(
        AuditEntry(
            1000.5, "tcp", "alice", "operator", "stopApp", {"name": "web"}, "error", "nope", 2.25
        )
    )
    [row] = audit.query()
    assert row == {
        "id": 1,
        "time": 1000.5,
        "transport": "tcp",
        "who": "alice",
        "role": "operator",
        "method": "stopApp",
        "params": {"name": "web"},
        "outcome": "error",
        "error": "nope",
        "duration_ms": 2.25,
    }


def test_query_is_newest_last_with_limit_since_and_method(audit: AuditLog) -> None:
    for i in range(10):
        audit.record(entry("startApp" if i % 2 else "stopApp", at=100.0 + i, n=i))
    assert [r["params"]["n"] for r in audit.query()] == list(range(10))
    assert [r["params"]["n"] for r in audit.query(limit=3)] == [7, 8, 9]
    assert [r["params"]["n"] for r in audit.query(since=106.0)] == [6, 7, 8, 9]
    assert [r["params"]["n"] for r in audit.query(method="startApp")] == [1, 3, 5, 7, 9]
    assert [r["params"]["n"] for r in audit.query(limit=2, since=103.0, method="stopApp")] == [6, 8]
    assert audit.query(limit=0) == []


def test_entry_for_call_describes_the_peer(audit: AuditLog) -> None:
    unix = Peer("unix", Role.ADMIN, uid=1000, pid=4242)
    tcp = Peer("tcp", Role.OPERATOR, subject="deploy-bot")
    audit.record(AuditEntry.for_call(unix, "shutdown", None, started=5.0, duration_ms=0.5))
    audit.record(AuditEntry.for_call(tcp, "scale", [1], started=6.0, duration_ms=1, error="denied"))
    first, second = audit.query()
    assert (first["who"], first["role"], first["outcome"]) == ("uid 1000 pid 4242", "admin", "ok")
    assert (second["who"], second["role"], second["outcome"]) == ("deploy-bot", "operator", "error")
    assert (second["transport"], second["error"], second["params"]) == ("tcp", "denied", [1])


def test_secrets_are_masked_at_any_depth(audit: AuditLog) -> None:
    audit.record(
        entry(
            token="t0k3n",
            name="web",
            env={"PASSWORD": "hunter2", "HOME": "/root"},
            items=[{"secret": {"nested": "value"}}],
        )
    )
    [row] = audit.query()
    assert row["params"] == {
        "token": "***",
        "name": "web",
        "env": {"PASSWORD": "***", "HOME": "/root"},
        "items": [{"secret": "***"}],
    }
    with closing(sqlite3.connect(audit.path)) as conn:
        stored = conn.execute("SELECT params FROM audit").fetchone()[0]
    assert "t0k3n" not in stored and "hunter2" not in stored and "value" not in stored


def test_params_are_compact_json_cut_at_the_limit(audit: AuditLog) -> None:
    audit.record(entry(name="web", n=1))
    audit.record(entry(blob="x" * 10_000))
    assert audit.flush(timeout=5)
    with closing(sqlite3.connect(audit.path)) as conn:
        short, long = (p for (p,) in conn.execute("SELECT params FROM audit ORDER BY id"))
    assert short == '{"name":"web","n":1}'
    assert len(long) == MAX_PARAMS_CHARS and long.endswith("…")
    assert audit.query()[-1]["params"] == long  # no longer JSON: handed back as text


def test_thousands_in_one_burst_are_all_written(audit: AuditLog) -> None:
    started = time.monotonic()
    for i in range(5_000):
        audit.record(entry(n=i))
    assert audit.flush(timeout=30)
    elapsed = time.monotonic() - started
    rows = audit.query(limit=10_000)
    assert [r["params"]["n"] for r in rows] == list(range(5_000))
    # A loose bound that only a commit per row (or worse) would break; the
    # real number is measured by hand, not here (~30 ms on a dev machine).
    assert elapsed < 10


def test_overflow_drops_the_oldest_and_says_how_many(
    audit: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    # The writer may hold up to a full queue in flight before it blocks, so
    # twice the queue plus some is sure to overflow.
    total = 2 * MAX_PENDING + 500
    with closing(sqlite3.connect(audit.path, isolation_level=None)) as blocker:
        blocker.execute("BEGIN IMMEDIATE")  # the writer waits, as on a stalled disk
        for i in range(total):
            audit.record(entry(n=i))
        blocker.execute("COMMIT")
    assert audit.flush(timeout=30)
    rows = audit.query(limit=2 * total)
    [notice] = [r for r in rows if r["method"] == "audit.dropped"]
    kept = [r["params"]["n"] for r in rows if r["method"] != "audit.dropped"]
    dropped = notice["params"]["dropped"]
    assert dropped > 0 and dropped + len(kept) == total
    assert kept[-MAX_PENDING:] == list(range(total - MAX_PENDING, total))  # the newest survive
    assert notice["outcome"] == "error" and str(dropped) in notice["error"]
    assert sum("queue full" in m for m in errors(caplog)) == 1


def test_a_corrupt_file_is_moved_aside_and_a_new_one_works(
    db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"this is not sqlite\n" * 500
    Path(db).write_bytes(garbage)
    log = AuditLog(db)
    try:
        log.record(entry(name="web"))
        assert [r["params"] for r in log.query()] == [{"name": "web"}]
    finally:
        log.close()
    [aside] = tmp_path.glob("procward.db.corrupt-*")
    assert aside.read_bytes() == garbage
    assert any("not a usable database" in m and str(aside) in m for m in errors(caplog))


def test_an_unusable_location_logs_once_and_keeps_entries_until_it_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    log = AuditLog(str(blocker / "procward.db"))
    try:
        for i in range(50):
            log.record(entry(n=i))  # never raises
            assert not log.flush(timeout=5)
        assert len(errors(caplog)) == 1
        blocker.unlink()
        blocker.mkdir()
        assert log.flush(timeout=5)
        assert [r["params"]["n"] for r in log.query()] == list(range(50))
    finally:
        log.close()


def test_a_full_disk_logs_once_and_keeps_entries_until_there_is_room(
    audit: AuditLog, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    audit.record(entry(n=0))
    assert audit.flush(timeout=5)
    room = max(os.path.getsize(db + suffix) for suffix in ("", "-wal", "-shm"))
    with file_size_limit(room):
        for i in range(1, 200):
            audit.record(entry(n=i, blob="x" * 500))
        assert not audit.flush(timeout=5)
        assert not audit.flush(timeout=5)
    assert len(errors(caplog)) == 1
    assert audit.flush(timeout=5)
    assert [r["params"]["n"] for r in audit.query(limit=1000)] == list(range(200))


def test_close_is_idempotent_and_later_records_are_ignored(db: str) -> None:
    log = AuditLog(db)
    log.record(entry(n=1))
    log.close()
    log.close()
    log.record(entry(n=2))  # after close: dropped, not raised
    assert [r["params"] for r in log.query()] == [{"n": 1}]


def test_files_are_private_and_the_schema_is_versioned(audit: AuditLog, db: str) -> None:
    audit.record(entry())
    assert audit.flush(timeout=5)
    for suffix in ("", "-wal"):
        assert os.stat(db + suffix).st_mode & 0o777 == 0o600
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "audit_time" in indexes
