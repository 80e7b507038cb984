"""The audit log store on real JSON Lines files: what it keeps, and how it fails.

Disk trouble is made real, not mocked: a location under a regular file (the
tests run as root too, where a read-only directory would not stop anyone) and
a file-size limit (RLIMIT_FSIZE) that makes writes fail like a full disk.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from procward.daemon.auditentry import MAX_PARAMS_CHARS, AuditEntry, encode, withhold
from procward.daemon.auditlog import BACKUPS, MAX_PENDING, AuditLog, Limits
from procward.kit._masking import MAX_STRING
from procward.kit._rpc import Peer, Role

LOGGER = "procward.daemon.audit"
KEYS = ["time", "transport", "who", "role", "method", "params", "outcome", "error", "duration_ms"]


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
def path(tmp_path: Path) -> str:
    return str(tmp_path / "audit.jsonl")


@pytest.fixture
def audit(path: str) -> Iterator[AuditLog]:
    log = AuditLog(path)
    yield log
    log.close()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "ERROR"]


def skipped(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    return [m for m in messages if "skipped" in m]


def lines(path: str) -> list[bytes]:
    """The raw lines of one file; each must end with a newline."""
    data = Path(path).read_bytes()
    assert not data or data.endswith(b"\n")
    return data.splitlines()


def stored(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(path)]


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


def test_record_then_query_returns_every_field(audit: AuditLog, path: str) -> None:
    audit.record(
        AuditEntry(
            1000.5, "tcp", "alice", "operator", "stopApp", {"name": "web"}, "error", "nope", 2.25
        )
    )
    [row] = audit.query()
    assert row == {
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
    [line] = lines(path)  # one object a line, keys in this order, greppable as is
    assert list(json.loads(line)) == KEYS
    assert b'"method":"stopApp","params":{"name":"web"}' in line


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
    assert first["params"] is None


def test_secrets_are_masked_at_any_depth(audit: AuditLog, path: str) -> None:
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
    raw = Path(path).read_bytes()
    assert b"t0k3n" not in raw and b"hunter2" not in raw and b"value" not in raw


def test_params_are_json_and_cut_to_text_past_the_limit(audit: AuditLog, path: str) -> None:
    audit.record(entry(name="web", n=1))
    audit.record(entry(blob="x" * 10_000))
    audit.record(entry(**{f"k{i}": "x" * 100 for i in range(40)}))
    audit.record(entry(name="café", odd="\udc80"))  # not ASCII; a lone surrogate
    assert audit.flush(timeout=5)
    short, blob, long, odd = (row["params"] for row in stored(path))
    assert short == {"name": "web", "n": 1}
    assert blob == {"blob": "x" * (MAX_STRING - 1) + "…"}  # each string is cut first
    assert isinstance(long, str) and len(long) == MAX_PARAMS_CHARS and long.endswith("…")
    assert long.startswith('{"k0":"xxx')
    assert odd == {"name": "café", "odd": "\udc80"}
    assert [r["params"] for r in audit.query()] == [short, blob, long, odd]


def test_thousands_in_one_burst_are_all_written(audit: AuditLog) -> None:
    started = time.monotonic()
    for i in range(5_000):
        audit.record(entry(n=i))
    assert audit.flush(timeout=30)
    elapsed = time.monotonic() - started
    rows = audit.query(limit=10_000)
    assert [r["params"]["n"] for r in rows] == list(range(5_000))
    # A loose bound that only a write per entry (or worse) would break.
    assert elapsed < 10


def test_overflow_drops_the_oldest_and_says_how_many(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The writer may hold up to a full queue in flight, so twice the queue
    # plus some is sure to overflow while it cannot write at all.
    total = 2 * MAX_PENDING + 500
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    log = AuditLog(str(blocker / "audit.jsonl"))
    try:
        for i in range(total):
            log.record(entry(n=i))
        blocker.unlink()
        blocker.mkdir()
        assert log.flush(timeout=30)
        rows = log.query(limit=2 * total)
    finally:
        log.close()
    notices = [r for r in rows if r["method"] == "audit.dropped"]
    kept = [r["params"]["n"] for r in rows if r["method"] != "audit.dropped"]
    dropped = sum(r["params"]["dropped"] for r in notices)
    assert dropped > 0 and dropped + len(kept) == total
    # In order, each once, and the newest full queue all there. A batch the
    # writer took before the directory came back may be written too, so what
    # was dropped need not be only the very oldest (then a second notice
    # counts the entries dropped while that batch was in flight).
    assert kept == sorted(set(kept))
    assert kept[-MAX_PENDING:] == list(range(total - MAX_PENDING, total))
    assert 1 <= len(notices) <= 2
    assert all(
        r["outcome"] == "error" and str(r["params"]["dropped"]) in r["error"] for r in notices
    )
    assert sum("queue full" in m for m in errors(caplog)) == 1


def test_a_batch_in_flight_while_the_queue_overflows_is_written_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the test above allows for, made certain: the writer takes a
    # batch, the queue overflows while it is in flight, then the write works.
    taken, go = threading.Event(), threading.Event()
    real_write = AuditLog._write

    def held_write(self: AuditLog, batch: list[AuditEntry], dropped: int) -> int:
        taken.set()
        go.wait(10)
        return real_write(self, batch, dropped)

    monkeypatch.setattr(AuditLog, "_write", held_write)
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    try:
        log.record(entry(n=0))
        assert taken.wait(10)
        total = MAX_PENDING + 101
        for i in range(1, total):
            log.record(entry(n=i))
        go.set()
        assert log.flush(timeout=30)
        rows = log.query(limit=2 * total)
    finally:
        go.set()
        log.close()
    kept = [r["params"]["n"] for r in rows if r["method"] != "audit.dropped"]
    notices = [r for r in rows if r["method"] == "audit.dropped"]
    assert kept == [0, *range(total - MAX_PENDING, total)]  # the one in flight, the newest
    assert [r["params"]["dropped"] for r in notices] == [100]


def test_an_unusable_location_logs_once_and_keeps_entries_until_it_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    log = AuditLog(str(blocker / "audit.jsonl"))
    try:
        for i in range(50):
            log.record(entry(n=i))  # never raises
            assert not log.flush(timeout=5)
        assert len(errors(caplog)) == 1
        assert log.query(limit=0) == []  # no file to read is not an error
        blocker.unlink()
        blocker.mkdir()
        assert log.flush(timeout=5)
        assert [r["params"]["n"] for r in log.query()] == list(range(50))
    finally:
        log.close()


def test_a_full_disk_logs_once_and_keeps_entries_until_there_is_room(
    audit: AuditLog, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    audit.record(entry(n=0))
    assert audit.flush(timeout=5)
    # Room for a line or two and part of the next: a short write, then EFBIG.
    room = os.path.getsize(path) + 1_500
    with file_size_limit(room):
        for i in range(1, 200):
            audit.record(entry(n=i, blob="x" * 500))
        assert not audit.flush(timeout=5)
        assert not audit.flush(timeout=5)
        assert os.path.getsize(path) <= room
    assert len(errors(caplog)) == 1
    assert audit.flush(timeout=5)
    # Every entry exactly once, and no torn line left where the disk filled up.
    assert [r["params"]["n"] for r in stored(path)] == list(range(200))
    assert [r["params"]["n"] for r in audit.query(limit=1000)] == list(range(200))


def test_close_is_idempotent_and_later_records_are_ignored(path: str) -> None:
    log = AuditLog(path)
    assert log.query() == []  # nothing yet, and no file made by asking
    assert not os.path.exists(path)
    log.record(entry(n=1))
    log.close()
    log.close()
    log.record(entry(n=2))  # after close: dropped, not raised
    assert [r["params"] for r in log.query()] == [{"n": 1}]


def test_files_are_private(path: str) -> None:
    Path(path).write_text("")
    os.chmod(path, 0o644)
    log = AuditLog(path)
    try:
        log.record(entry())
        assert log.flush(timeout=5)
    finally:
        log.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.unlink(path)
    old_umask = os.umask(0)
    log = AuditLog(path)
    try:
        log.record(entry())
        assert log.flush(timeout=5)
    finally:
        log.close()
        os.umask(old_umask)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_rotation_keeps_every_entry_once_and_query_spans_the_files(path: str) -> None:
    audit = AuditLog(path, Limits(file_bytes=1_000))
    try:
        check_rotation(audit, path)
    finally:
        audit.close()


def check_rotation(audit: AuditLog, path: str) -> None:
    files = [path, *(f"{path}.{n}" for n in range(1, BACKUPS + 1))]

    def on_disk() -> list[int]:
        """The n of every entry in every file, oldest first."""
        return [r["params"]["n"] for f in reversed(files) if os.path.exists(f) for r in stored(f)]

    for i in range(25):
        audit.record(entry(n=i))
        assert audit.flush(timeout=5)  # a batch each: rotation happens between batches
    assert os.path.exists(f"{path}.2")
    assert on_disk() == list(range(25))
    assert [r["params"]["n"] for r in audit.query(limit=100)] == list(range(25))
    assert [r["params"]["n"] for r in audit.query(limit=12)] == list(range(13, 25))
    for f in files:
        if os.path.exists(f):
            assert os.stat(f).st_mode & 0o777 == 0o600
            assert os.path.getsize(f) <= 1_000 + 200  # one batch past the limit at most
    for i in range(25, 150):
        audit.record(entry(n=i))
        assert audit.flush(timeout=5)
    # Only BACKUPS old files are kept: the oldest entries are gone, the rest once each.
    assert not os.path.exists(f"{path}.{BACKUPS + 1}")
    kept = on_disk()
    assert kept == list(range(150 - len(kept), 150)) and len(kept) > 30
    assert [r["params"]["n"] for r in audit.query(limit=1000)] == kept


def test_a_torn_last_line_is_skipped_and_the_next_entry_is_whole(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(path)
    for i in range(3):
        log.record(entry(n=i))
    log.close()
    with open(path, "ab") as f:  # what a crash in the middle of a write leaves
        f.write(b'{"time":1.0,"transport":"un')
    log = AuditLog(path)
    try:
        assert [r["params"]["n"] for r in log.query()] == [0, 1, 2]
        assert any("skipped 1 " in m for m in skipped(caplog))
        log.record(entry(n=3))
        assert [r["params"]["n"] for r in log.query()] == [0, 1, 2, 3]
    finally:
        log.close()
    raw = Path(path).read_bytes().splitlines()
    assert raw[3] == b'{"time":1.0,"transport":"un' and json.loads(raw[4])["params"] == {"n": 3}


def test_a_query_of_a_big_log_reads_only_its_end(
    audit: AuditLog, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 8 MiB of junk, then entries: a query that read the junk would say it skipped lines.
    junk = b"not an audit entry, and not JSON either\n" * 200_000
    entries = b"".join(encode(entry(at=1000.0 + i, n=i)) for i in range(2_000))
    Path(path).write_bytes(junk + entries)
    assert [r["params"]["n"] for r in audit.query(limit=5)] == [1995, 1996, 1997, 1998, 1999]
    assert [r["params"]["n"] for r in audit.query(since=2990.0)] == list(range(1990, 2000))
    assert [r["params"]["n"] for r in audit.query(limit=3, method="startApp")] == [
        1997,
        1998,
        1999,
    ]
    assert skipped(caplog) == []
    # Asked for more than the entries, it does read the junk, and says so once.
    assert len(audit.query(limit=10_000)) == 2_000
    assert len(skipped(caplog)) == 1 and "200000" in skipped(caplog)[0]


def test_the_store_does_not_import_sqlite() -> None:
    code = "import procward.daemon.auditlog, sys; print('sqlite3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_megabyte_of_params_is_held_as_a_short_line(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be: nothing is written")
    log = AuditLog(str(blocker / "audit.jsonl"))
    peer = Peer("tcp", Role.ANONYMOUS, address="127.0.0.1:5555")
    huge = {"name": "x" * 1024 * 1024, "list": ["y" * 1000] * 1000}
    try:
        for _ in range(50):
            log.record(AuditEntry.for_call(peer, "stopApp", huge, started=1.0, duration_ms=1))
        held = log.statistics()
        assert held["queued"] + log.statistics()["dropped"] <= 50
        assert held["queued_bytes"] < 50 * 4096  # not 50 MiB
    finally:
        log.close(timeout=1)


def test_the_queue_is_bounded_in_bytes_too(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    log = AuditLog(str(blocker / "audit.jsonl"), Limits(queued_bytes=64 * 1024))
    try:
        for i in range(1_000):
            log.record(entry(n=i, blob="z" * 150))
        held = log.statistics()
        assert held["queued_bytes"] <= 64 * 1024 and held["dropped"] > 0
        blocker.unlink()
        blocker.mkdir()
        assert log.flush(timeout=30)
        rows = log.query(limit=2_000)
        assert rows[0]["method"] == "audit.dropped"
        assert [r["params"]["n"] for r in rows[1:]][-1] == 999  # the newest are kept
        assert rows[0]["params"]["dropped"] + len(rows) - 1 == 1_000
    finally:
        log.close()


def test_withheld_params_are_masked_by_name_and_by_position() -> None:
    hidden = frozenset({"value"})
    names = ("name", "value", "encoding")
    assert withhold({"name": "a", "value": "pw"}, hidden, names) == {"name": "a", "value": "***"}
    assert withhold(["a", "pw", "utf-8"], hidden, names) == ["a", "***", "utf-8"]
    assert withhold(None, hidden, names) is None
    peer = Peer("unix", Role.ADMIN, uid=0)
    params = withhold({"name": "a", "value": "pw"}, hidden, names)
    line = encode(AuditEntry.for_call(peer, "setSecret", params, started=0.0, duration_ms=1))
    assert b"pw" not in line and b'"value":"***"' in line
