"""``max_memory``: the two-sample rule with plain numbers, and the guard on a fake clock."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from procward.supervision.machine import OverMemory, State
from procward.supervision.memoryguard import MemoryGuard, MemoryRule, describe
from procward.supervision.metrics import Usage

from .fakes import FakeTimers

MB = 1 << 20
WEB = ("web", 0)


def test_one_sample_over_is_a_spike_two_in_a_row_a_restart() -> None:
    rule = MemoryRule()
    assert rule.observe({(WEB, 10): (600 * MB, 500 * MB, False)}) == []
    assert rule.observe({(WEB, 10): (612 * MB, 500 * MB, False)}) == [
        (WEB, "memory 612 MB over max_memory 500 MB")
    ]
    assert rule.over == {}  # counted from zero again


def test_a_sample_under_the_limit_starts_the_count_again() -> None:
    rule = MemoryRule()
    for memory in (600, 400, 600, 400, 600):
        assert rule.observe({(WEB, 10): (memory * MB, 500 * MB, False)}) == []


def test_a_new_process_starts_from_zero() -> None:
    rule = MemoryRule()
    rule.observe({(WEB, 10): (600 * MB, 500 * MB, False)})
    assert rule.observe({(WEB, 11): (600 * MB, 500 * MB, False)}) == []


def test_the_cgroup_counting_a_pass_over_memory_high_counts_as_over() -> None:
    """With ``memory.high`` at the limit the kernel holds memory near it: its events say."""
    rule = MemoryRule()
    rule.observe({(WEB, 10): (499 * MB, 500 * MB, True)})
    assert rule.observe({(WEB, 10): (499 * MB, 500 * MB, True)}) == [
        (WEB, "memory 499 MB over max_memory 500 MB")
    ]


def test_describe_is_in_mb() -> None:
    assert describe(612 * MB, 500 * MB) == "memory 612 MB over max_memory 500 MB"
    assert describe(900, 800) == "memory 900 bytes over max_memory 800 bytes"


class FakeInstance:
    def __init__(self, pgid: int, limit: int) -> None:
        self.key = ("web", 0)
        self.index = 0
        self.label = "web:0"
        self.pgid = pgid
        self.state = State.RUNNING
        self.record = SimpleNamespace(pid=pgid)
        self.spec = SimpleNamespace(max_memory=limit)
        self.host = SimpleNamespace(cgroups=None)
        self.cgroup = None
        self.errors: list[str] = []
        self.app = SimpleNamespace(note_error=self.errors.append)
        self.sent: list[Any] = []

    def send(self, event: Any) -> None:
        self.sent.append(event)


class FakeSupervisor:
    def __init__(self, inst: FakeInstance) -> None:
        self.memory_interval = 5.0
        self.inst = inst
        self.memory = 0
        self.samples = 0

    def memory_watched(self) -> list[Any]:
        return [self.inst]

    def measure_groups(self, groups: Iterable[int]) -> dict[int, Usage]:
        self.samples += 1
        return {pgid: Usage(0, self.memory, 1) for pgid in groups}


def test_the_guard_restarts_within_two_samples_and_says_why() -> None:
    timers = FakeTimers()
    inst = FakeInstance(pgid=42, limit=500 * MB)
    sup = FakeSupervisor(inst)
    guard = MemoryGuard(sup, timers)  # type: ignore[arg-type]
    guard.watch()
    sup.memory = 612 * MB
    timers.advance(5.0)
    assert inst.sent == []  # one sample: maybe a spike
    timers.advance(5.0)
    assert inst.sent == [OverMemory("memory 612 MB over max_memory 500 MB")]
    assert inst.errors == ["instance 0: memory 612 MB over max_memory 500 MB"]


def test_the_guard_stops_when_nothing_is_left_to_watch_and_follows_the_interval() -> None:
    timers = FakeTimers()
    inst = FakeInstance(pgid=42, limit=500 * MB)
    sup = FakeSupervisor(inst)
    sup.memory_interval = 0.5
    guard = MemoryGuard(sup, timers)  # type: ignore[arg-type]
    guard.watch()
    guard.watch()  # once is enough
    assert timers.pending() == [0.5]
    timers.advance(0.5)
    assert sup.samples == 1
    inst.state = State.STOPPED
    timers.advance(0.5)
    assert not guard.running and timers.pending() == []  # idle: no timer at all
    assert sup.samples == 1
