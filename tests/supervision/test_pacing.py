"""Paced: queued work runs in order, within a time budget per pass of the loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from procward.supervision.pacing import Paced


class Loop:
    """A fake loop: call_soon queues, turn() runs one pass; a fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.ready: list[Callable[[], None]] = []
        self.passes = 0

    def call_soon(self, fn: Callable[[], None]) -> None:
        self.ready.append(fn)

    def clock(self) -> float:
        return self.now

    def turn(self) -> None:
        self.passes += 1
        ready, self.ready = self.ready, []
        for fn in ready:
            fn()


def test_work_within_the_budget_runs_in_one_pass_in_order() -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock, budget=0.005)
    for i in range(10):
        paced.add(lambda i=i: done.append(i))
    assert len(loop.ready) == 1  # one pass scheduled, not ten
    loop.turn()
    assert done == list(range(10)) and not loop.ready and len(paced) == 0


def test_work_past_the_budget_waits_for_the_next_pass() -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock, budget=0.005)

    def slow(i: int) -> None:
        done.append(i)
        loop.now += 0.002  # each takes 2 ms

    for i in range(10):
        paced.add(lambda i=i: slow(i))
    loop.turn()
    assert done == [0, 1, 2]  # 6 ms spent: the rest after the loop's other work
    loop.call_soon(lambda: done.append(-1))  # what else waited (a call, a pipe)
    loop.turn()
    assert done[:4] == [0, 1, 2, 3] and -1 not in done[:4]
    while loop.ready:
        loop.turn()
    assert [d for d in done if d >= 0] == list(range(10))
    assert loop.passes == 4  # 3 + 3 + 3 + 1


def test_one_item_runs_even_when_it_alone_takes_longer_than_the_budget() -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock, budget=0.005)

    def slower(i: int) -> None:
        done.append(i)
        loop.now += 1.0

    for i in range(3):
        paced.add(lambda i=i: slower(i))
    for expected in ([0], [0, 1], [0, 1, 2]):
        loop.turn()
        assert done == expected
    assert not loop.ready


def test_a_cancelled_ticket_never_runs() -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock)
    tickets = [paced.add(lambda i=i: done.append(i)) for i in range(4)]
    tickets[1].cancel()
    loop.turn()
    assert done == [0, 2, 3]


def test_a_failing_item_is_logged_and_the_rest_still_run(caplog: pytest.LogCaptureFixture) -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock)

    def boom() -> None:
        raise RuntimeError("boom")

    paced.add(boom)
    paced.add(lambda: done.append(1))
    loop.turn()
    assert done == [1]
    assert "queued work failed" in caplog.text


def test_work_added_while_running_waits_for_a_later_pass_when_over_budget() -> None:
    loop, done = Loop(), []
    paced = Paced(loop.call_soon, loop.clock, budget=0.005)

    def again() -> None:  # a respawn whose child dies at once and is respawned
        done.append(len(done))
        loop.now += 0.003
        if len(done) < 6:
            paced.add(again)

    paced.add(again)
    loop.turn()
    assert len(done) == 2  # not six: a loop that never ends its pass is the bug
    while loop.ready:
        loop.turn()
    assert len(done) == 6
