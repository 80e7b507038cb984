"""The one writer of snapshot files: debounced, atomic, in order, and calm on a full disk."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

import pytest

from procward.kit._snapshot import Snapshot
from procward.kit.testing import ManualTimer


class Counter:
    """Something that changes; ``take`` counts how often it is read."""

    def __init__(self) -> None:
        self.value = 0
        self.taken = 0

    def take(self) -> bytes:
        self.taken += 1
        return json.dumps({"value": self.value}).encode()


def read(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


@pytest.fixture
def path(tmp_path: Any) -> str:
    return str(tmp_path / "state.json")


def test_a_burst_of_changes_is_one_write_after_the_delay(path: str) -> None:
    timer, thing = ManualTimer(), Counter()
    snap = Snapshot(path, thing.take, delay=0.25, thread=False, timer=timer)
    for n in range(500):
        thing.value = n
        snap.changed()
    timer.advance(0.125)
    assert not os.path.exists(path) and thing.taken == 0
    timer.advance(0.125)
    assert read(path) == {"value": 499}  # taken when written: the latest
    assert thing.taken == 1 and snap.writes == 1 and timer.pending == 0
    thing.value = 500
    snap.changed()  # the next burst gets its own write
    timer.advance(0.25)
    assert read(path) == {"value": 500} and snap.writes == 2


def test_a_flush_writes_at_once_and_cancels_the_pending_write(path: str) -> None:
    timer, thing = ManualTimer(), Counter()
    snap = Snapshot(path, thing.take, thread=False, timer=timer)
    snap.changed()
    snap.flush().result()
    assert read(path) == {"value": 0} and timer.pending == 0
    timer.advance(1)
    assert snap.writes == 1


def test_on_a_worker_writes_keep_their_order_and_the_previous_file_is_kept(path: str) -> None:
    thing = Counter()
    snap = Snapshot(path, thing.take, timer=ManualTimer())
    futures = []
    for n in range(20):
        thing.value = n
        futures.append(snap.flush())
    for future in futures:
        future.result(timeout=5)
    assert read(path) == {"value": 19} and read(path + ".bak") == {"value": 18}
    assert snap.writes == 20
    snap.abandon()


def test_mode_and_no_backup(path: str) -> None:
    snap = Snapshot(path, Counter().take, thread=False, backup=False, mode=0o644)
    snap.flush()
    snap.flush()
    assert os.stat(path).st_mode & 0o777 == 0o644 and not os.path.exists(path + ".bak")


def test_the_baseline_writes_only_what_is_worth_writing(path: str) -> None:
    timer, thing = ManualTimer(), Counter()
    snap = Snapshot(path, thing.take, thread=False, timer=timer)
    snap.baseline()
    assert snap.writes == 0  # nothing changed, no file of ours: an idle daemon stays idle
    snap.flush()
    snap.baseline()
    assert snap.writes == 1
    snap.changed()  # a change (its timer not run yet) is written by the baseline
    snap.baseline()
    assert snap.writes == 2 and timer.pending == 0
    os.unlink(path)  # removed behind our back
    snap.baseline()
    assert snap.writes == 3 and os.path.exists(path)
    with open(path, "w") as f:  # replaced by hand
        f.write("{}")
    snap.baseline()
    assert snap.writes == 4 and read(path) == {"value": 0}


def test_nothing_new_is_nothing_written(path: str) -> None:
    fresh: list[bytes] = [b"1"]
    snap = Snapshot(path, lambda: fresh.pop() if fresh else None, thread=False)
    snap.flush()
    snap.flush()
    assert snap.writes == 1


def test_a_full_disk_is_said_once_and_nothing_is_lost(
    tiny_disk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = os.path.join(tiny_disk.path, "uptime.json")
    history: list[bytes] = []  # a history: take() hands out each change once
    snap = Snapshot(
        path, lambda: history.pop() if history else None, what="uptime history", failing="; later"
    )
    history.append(b"[1]")
    snap.flush().result(timeout=5)
    tiny_disk.fill()
    try:
        with caplog.at_level(logging.WARNING):
            history.append(b"[1, 2]" + b" " * 8192)
            snap.flush().result(timeout=5)
            snap.flush().result(timeout=5)  # nothing new: the failed bytes, tried again
            snap.baseline()
            assert snap.problem is not None
            assert snap.problem.startswith(f"cannot save {path}: No space left")
            assert caplog.text.count("cannot save the uptime history to") == 1
            assert "; later" in caplog.text
    finally:
        tiny_disk.free()
    snap.baseline()  # the retry, as the periodic job would
    snap.abandon()  # waits for the worker
    assert snap.problem is None and "saved the uptime history" in caplog.text
    with open(path, "rb") as f:
        assert f.read().startswith(b"[1, 2]")
    assert snap.load(json.loads) == [1, 2]


def test_abandon_writes_nothing_close_writes_once_more(path: str) -> None:
    timer, thing = ManualTimer(), Counter()
    snap = Snapshot(path, thing.take, timer=timer)
    snap.changed()
    snap.abandon()
    timer.advance(1)
    assert not os.path.exists(path) and thing.taken == 0

    async def stop() -> None:
        again = Snapshot(path, thing.take)
        again.changed()
        await again.close()

    asyncio.run(stop())
    assert read(path) == {"value": 0}


def test_remove_takes_the_file_and_the_pending_write_away(path: str) -> None:
    timer = ManualTimer()
    snap = Snapshot(path, Counter().take, thread=False, timer=timer)
    snap.flush()
    snap.changed()
    snap.remove()
    timer.advance(1)
    assert not os.path.exists(path)
    snap.remove()  # twice is fine


def test_load_falls_back_to_the_backup_and_gives_up_quietly(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    thing = Counter()
    snap = Snapshot(path, thing.take, what="events", thread=False)
    snap.flush()
    thing.value = 1
    snap.flush()
    with open(path, "w") as f:
        f.write("{cut sh")
    assert snap.load(json.loads) == {"value": 0}
    with open(path + ".bak", "w") as f:
        f.write("")
    assert snap.load(json.loads) is None and "events unreadable" in caplog.text


def test_in_the_loop_the_write_comes_after_the_delay(path: str) -> None:
    thing = Counter()

    async def main() -> float:
        snap = Snapshot(path, thing.take, delay=0.02)
        started = time.monotonic()
        snap.changed()
        snap.changed()
        deadline = started + 5
        while snap.writes == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        took = time.monotonic() - started
        await snap.close()
        return took

    assert asyncio.run(main()) >= 0.02
    assert thing.taken == 2  # the debounced write, and close()'s


def test_with_spacing_a_flood_of_changes_is_a_few_writes(path: str) -> None:
    timer, thing = ManualTimer(), Counter()
    snap = Snapshot(
        path,
        thing.take,
        delay=0.01,
        thread=False,
        timer=timer,
        spacing=0.25,
        clock=lambda: timer.now,
    )
    snap.changed()
    timer.advance(0.01)
    assert snap.writes == 1  # the first change after a quiet time: at once (after delay)
    for _ in range(100):  # 1 s of a change every 10 ms
        thing.value += 1
        snap.changed()
        timer.advance(0.01)
    assert snap.writes == 5  # at 0.26, 0.51, 0.76, 1.01: 0.25 s apart
    assert read(path) == {"value": 100}  # the last change is in the last write
    thing.value += 1
    snap.changed()  # 0.01 s after that write: it waits for the spacing
    timer.advance(0.2)
    assert snap.writes == 5
    timer.advance(0.05)
    assert snap.writes == 6 and read(path) == {"value": 101}
    timer.advance(1.0)
    snap.changed()  # quiet again: the delay alone
    timer.advance(0.01)
    assert snap.writes == 7


def test_with_spacing_a_costly_snapshot_is_taken_at_most_a_tenth_of_the_time(path: str) -> None:
    timer, thing = ManualTimer(), Counter()

    def take() -> bytes:
        timer.now += 0.1  # a big state: the snapshot holds the loop 0.1 s
        return thing.take()

    snap = Snapshot(
        path, take, delay=0.01, thread=False, timer=timer, spacing=0.25, clock=lambda: timer.now
    )
    snap.changed()
    timer.advance(0.01)
    assert snap.writes == 1
    for _ in range(300):  # 3 s of a change every 10 ms
        thing.value += 1
        snap.changed()
        timer.advance(0.01)
    # Each write waits 10 x 0.1 s after the one before: 3 more in 3 s, not 12.
    assert snap.writes in (3, 4)
