"""The event ring: bounded, filtered, and followers that lag lose events, not memory."""

from __future__ import annotations

import asyncio

import pytest

from procward.supervision.events import EventFollower, EventLog


def test_recent_events_oldest_first_filtered_and_limited() -> None:
    log = EventLog(capacity=10)
    for i in range(4):
        log.add("web" if i % 2 else "db", 0, "starting", "running", 100 + i, None)
    assert [e["pid"] for e in log.recent(10)] == [100, 101, 102, 103]
    assert [e["pid"] for e in log.recent(1)] == [103]
    assert [e["pid"] for e in log.recent(10, name="web")] == [101, 103]
    assert log.recent(10, since=log.ring[-1][0] + 1) == []
    first = log.recent(1, name="db")[0]
    assert first == {
        "time": first["time"],
        "app": "db",
        "instance": 0,
        "from": "starting",
        "to": "running",
        "pid": 102,
        "why": None,
    }


def test_the_ring_keeps_only_the_newest() -> None:
    log = EventLog(capacity=3)
    for i in range(10):
        log.add("web", i, "stopped", "starting", None, None)
    assert [e["instance"] for e in log.recent(100)] == [7, 8, 9]


def test_a_lagging_follower_counts_what_it_missed() -> None:
    async def scenario() -> tuple[int, int]:
        log = EventLog()
        follower = EventFollower("web")
        log.followers.add(follower)
        for _ in range(follower.queue.maxsize + 5):
            log.add("web", 0, "running", "backoff", None, "exit status 1")
        log.add("db", 0, "running", "backoff", None, None)  # another app: not for it
        return follower.queue.qsize(), follower.missed

    assert asyncio.run(scenario()) == (1000, 5)


def test_saved_events_come_back_before_the_new_ones() -> None:
    old = EventLog()
    old.add("web", 0, "running", "backoff", 41, "killed by SIGKILL")
    old.add("web", 0, "backoff", "starting", None, None)
    rows = old.saved()
    assert not old.dirty
    new = EventLog(capacity=3)
    new.add("web", 0, "starting", "running", 42, None)
    bad = [[1.0, "x"], "junk", [1.0, "web", "0", "a", "b", None, None]]
    assert new.restore([*rows, *bad]) == 2
    assert [(e["from"], e["to"]) for e in new.recent(10)] == [
        ("running", "backoff"),
        ("backoff", "starting"),
        ("starting", "running"),
    ]
    assert new.recent(1, name="web")[0]["pid"] == 42
    new.restore(rows)  # over capacity: the oldest go, as in the ring
    assert len(new.ring) == 3


def test_restore_refuses_what_is_not_a_list() -> None:
    with pytest.raises(ValueError, match="not a list of events"):
        EventLog().restore({"events": []})
