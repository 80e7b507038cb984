"""Refusals folded into counted entries (pure), and kept apart from the changes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from procward.daemon.auditentry import AuditEntry
from procward.daemon.parts import audit
from procward.daemon.parts.audit import AuditTrail
from procward.daemon.refusals import RefusalFolder, kind_of
from procward.kit._errors import Unauthorized
from procward.kit._rpc import Peer, Role
from procward.kit.testing import wait_for

ANON = Peer("tcp", Role.ANONYMOUS, address="127.0.0.1:40001")


def refusal(at: float, method: str = "stopApp") -> AuditEntry:
    return AuditEntry(at, "tcp", "127.0.0.1:40001", "anonymous", method, None, "error", "x", 0.1)


def test_a_peer_is_one_place_whatever_its_port_or_pid() -> None:
    other_port = Peer("tcp", Role.ANONYMOUS, address="127.0.0.1:40002")
    v6 = Peer("tcp", Role.ANONYMOUS, address="[::1]:40002")
    unix = Peer("unix", Role.VIEWER, uid=1000, pid=1)
    assert kind_of(ANON, "stopApp", -32001) == kind_of(other_port, "stopApp", -32001)
    assert kind_of(v6, "stopApp", -32001)[1] == "[::1]"
    assert kind_of(unix, "stopApp", -32002) == kind_of(
        Peer("unix", Role.VIEWER, uid=1000, pid=2), "stopApp", -32002
    )
    assert kind_of(ANON, "stopApp", -32001) != kind_of(ANON, "startApp", -32001)
    assert kind_of(ANON, "stopApp", -32001) != kind_of(ANON, "stopApp", -32002)


def test_the_first_is_recorded_the_rest_counted_until_the_window_ends() -> None:
    folder = RefusalFolder(window=60.0)
    kind = kind_of(ANON, "stopApp", -32001)
    first = refusal(1000.0)
    assert folder.add(kind, first, now=0.0) == [first]
    for i in range(1, 500):
        assert folder.add(kind, refusal(1000.0 + i / 10), now=i / 10) == []
    assert folder.next_close() == 60.0
    assert folder.due(59.9) == []
    [counted] = folder.due(60.0)
    assert (counted.count, counted.time, counted.until) == (499, 1000.1, 1049.9)
    assert folder.next_close() is None
    again = refusal(1070.0)
    assert folder.add(kind, again, now=70.0) == [again]  # a new window


def test_a_window_with_nothing_after_the_first_adds_nothing() -> None:
    folder = RefusalFolder(window=1.0)
    folder.add(kind_of(ANON, "stopApp", -32001), refusal(5.0), now=0.0)
    assert folder.due(2.0) == [] and folder.drain() == []


def test_open_windows_are_bounded_by_closing_the_oldest() -> None:
    folder = RefusalFolder(window=60.0, max_kinds=3)
    kinds = [kind_of(ANON, f"m{i}", -32001) for i in range(4)]
    for kind in kinds[:3]:
        folder.add(kind, refusal(1.0), now=0.0)
        folder.add(kind, refusal(2.0), now=0.0)
    recorded = folder.add(kinds[3], refusal(3.0), now=1.0)
    assert [(e.time, e.count) for e in recorded] == [(2.0, 1), (3.0, 1)]
    assert len(folder.drain()) == 2  # the two windows still open, each with a repeat


def test_thirty_thousand_distinct_refusals_leave_the_changes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Distinct peers fold into nothing; their log rotates, the changes' does not.
    monkeypatch.setitem(audit.REFUSALS, "file_bytes", 200_000)
    trail = AuditTrail(str(tmp_path), lambda name: ("name",))
    root = Peer("unix", Role.ADMIN, uid=0, pid=1)
    try:
        trail.record_call(root, "startApp", {"name": "web"}, 1.0, 0.001, None)
        refused = Unauthorized("stopApp needs the operator role")
        for i in range(30_000):
            peer = Peer("tcp", Role.ANONYMOUS, address=f"127.{i // 250}.{i % 250}.1:5000")
            trail.record_call(peer, "stopApp", {"name": "x" * 300}, 2.0 + i, 0.001, refused)
        trail.settle()
        assert trail.refusals().flush(timeout=30) and trail.changes().flush(timeout=30)
        [change] = trail.query(limit=10, since=None, name="startApp")
        assert change["who"] == "uid 0 pid 1" and change["params"] == {"name": "web"}
        newest = trail.query(limit=100, since=None, name=None)
        assert [r["method"] for r in newest] == ["stopApp"] * 100  # merged by time
        assert newest[-1]["time"] == 2.0 + 29_999
        assert (tmp_path / "audit-refusals.jsonl.1").exists()
    finally:
        trail.close()


def test_the_count_is_recorded_when_the_window_ends_without_a_reader(tmp_path: Path) -> None:
    trail = AuditTrail(str(tmp_path), lambda name: ("name",), fold_window=0.05)
    refused = Unauthorized("stopApp needs the operator role")

    async def flood() -> None:
        for _ in range(5):
            trail.record_call(ANON, "stopApp", {"name": "x"}, time.time(), 0.001, refused)
        await asyncio.to_thread(wait_for, lambda: len(stored()) == 2, 10)

    def stored() -> list[dict[str, Any]]:
        trail.refusals().flush(timeout=1)
        path = tmp_path / "audit-refusals.jsonl"
        data = path.read_bytes() if path.exists() else b""
        return [json.loads(line) for line in data.splitlines()]

    try:
        asyncio.run(flood())
        first, rest = stored()
        assert "count" not in first and rest["count"] == 4
    finally:
        trail.close()
