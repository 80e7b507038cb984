"""Periodic and delayed jobs on a real event loop, with short intervals and deadlines."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from procward.kit._scheduler import Job, Scheduler

TICK = 0.01
DEADLINE = 5.0


def run(scenario: Callable[[Scheduler], Coroutine[Any, Any, None]]) -> Scheduler:
    """Run ``scenario`` with a started scheduler, always stopping it afterwards."""
    scheduler = Scheduler()

    async def main() -> None:
        scheduler.start()
        try:
            await scenario(scheduler)
        finally:
            await scheduler.stop()

    asyncio.run(main())
    return scheduler


async def until(condition: Callable[[], bool]) -> None:
    """Wait on the loop until ``condition()`` holds, failing after DEADLINE."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), DEADLINE)


def counting(job_runs: list[int], enough: int, done: asyncio.Event) -> Callable[[], None]:
    def tick() -> None:
        job_runs.append(1)
        if len(job_runs) >= enough:
            done.set()

    return tick


def test_every_runs_repeatedly() -> None:
    runs: list[int] = []
    jobs: list[Job] = []

    async def scenario(scheduler: Scheduler) -> None:
        done = asyncio.Event()
        jobs.append(scheduler.every(TICK, counting(runs, 3, done), name="tick"))
        await asyncio.wait_for(done.wait(), DEADLINE)

    scheduler = run(scenario)
    [job] = jobs
    assert job.runs >= 3
    assert job.failures == 0
    assert job in scheduler.jobs  # periodic jobs stay registered


def test_async_job_functions_are_awaited() -> None:
    seen: list[str] = []

    async def scenario(scheduler: Scheduler) -> None:
        done = asyncio.Event()

        async def refresh() -> None:
            await asyncio.sleep(0)
            seen.append("refreshed")
            done.set()

        scheduler.every(TICK, refresh, name="refresh")
        await asyncio.wait_for(done.wait(), DEADLINE)

    run(scenario)
    assert seen and set(seen) == {"refreshed"}


def test_after_runs_once_and_leaves_the_job_list() -> None:
    jobs: list[Job] = []

    async def scenario(scheduler: Scheduler) -> None:
        done = asyncio.Event()
        job = scheduler.after(TICK, done.set, name="once")
        jobs.append(job)
        assert job in scheduler.jobs
        await asyncio.wait_for(done.wait(), DEADLINE)
        await until(lambda: job not in scheduler.jobs)

    run(scenario)
    [job] = jobs
    assert job.runs == 1
    assert job.task is not None
    assert job.task.done()
    assert not job.task.cancelled()


def test_a_failing_job_is_counted_logged_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs: list[Job] = []

    async def scenario(scheduler: Scheduler) -> None:
        failed_twice = asyncio.Event()

        def boom() -> None:
            if jobs[0].failures >= 1:  # this is the second failure
                failed_twice.set()
            raise ValueError("bad tick")

        jobs.append(scheduler.every(TICK, boom, name="boom"))
        await asyncio.wait_for(failed_twice.wait(), DEADLINE)
        await until(lambda: jobs[0].failures >= 2)

    with caplog.at_level(logging.ERROR, logger="procward.kit.scheduler"):
        run(scenario)
    [job] = jobs
    assert job.failures >= 2
    assert job.runs >= job.failures
    failures = [r for r in caplog.records if r.getMessage() == "scheduled job boom failed"]
    assert len(failures) == job.failures
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], ValueError)


def test_an_async_job_that_raises_is_counted_too(caplog: pytest.LogCaptureFixture) -> None:
    jobs: list[Job] = []

    async def scenario(scheduler: Scheduler) -> None:
        async def boom() -> None:
            await asyncio.sleep(0)
            raise RuntimeError("async failure")

        jobs.append(scheduler.after(0, boom, name="async-boom"))
        await until(lambda: jobs[0].failures == 1 and jobs[0] not in scheduler.jobs)

    with caplog.at_level(logging.ERROR, logger="procward.kit.scheduler"):
        run(scenario)
    assert (jobs[0].runs, jobs[0].failures) == (1, 1)
    assert "scheduled job async-boom failed" in caplog.text
    assert "RuntimeError: async failure" in caplog.text


def test_stop_cancels_every_job() -> None:
    jobs: list[Job] = []

    async def scenario(scheduler: Scheduler) -> None:
        started = asyncio.Event()

        async def slow() -> None:
            started.set()
            await asyncio.sleep(3600)

        jobs.append(scheduler.every(TICK, slow, name="slow"))
        jobs.append(scheduler.every(3600, lambda: None, name="idle"))
        jobs.append(scheduler.after(3600, lambda: None, name="later"))
        await asyncio.wait_for(started.wait(), DEADLINE)
        await scheduler.stop()
        for job in jobs:
            assert job.task is not None
            assert job.task.cancelled()

    scheduler = run(scenario)
    assert [job.runs for job in jobs] == [1, 0, 0]
    assert [job.name for job in scheduler.jobs] == ["slow", "idle"]  # cancelled one-shots go


def test_jobs_wait_for_start_and_later_jobs_launch_at_once() -> None:
    async def scenario() -> None:
        scheduler = Scheduler()
        early = scheduler.every(TICK, lambda: None, name="early")
        assert early.task is None
        scheduler.start()
        assert early.task is not None
        late = scheduler.after(3600, lambda: None, name="late")
        assert late.task is not None
        await scheduler.stop()

    asyncio.run(scenario())


def test_a_periodic_job_never_overlaps_itself() -> None:
    active: list[int] = []
    most: list[int] = [0]

    async def scenario(scheduler: Scheduler) -> None:
        done = asyncio.Event()
        calls: list[int] = []

        async def slow() -> None:
            calls.append(1)
            active.append(1)
            most[0] = max(most[0], len(active))
            await asyncio.sleep(3 * TICK)  # longer than the interval
            active.pop()
            if len(calls) >= 3:
                done.set()

        scheduler.every(TICK, slow, name="slow")
        await asyncio.wait_for(done.wait(), DEADLINE)

    run(scenario)
    assert most == [1]


def test_first_sets_the_initial_delay() -> None:
    async def scenario(scheduler: Scheduler) -> None:
        done = asyncio.Event()
        scheduler.every(3600, done.set, name="hourly", first=0)
        await asyncio.wait_for(done.wait(), DEADLINE)  # not an hour

    run(scenario)


@pytest.mark.parametrize("interval", [0, -1.0])
def test_every_refuses_a_non_positive_interval(interval: float) -> None:
    with pytest.raises(ValueError, match="bad: interval must be positive"):
        Scheduler().every(interval, lambda: None, name="bad")


def test_stop_without_jobs_or_start_is_harmless() -> None:
    async def scenario() -> None:
        await Scheduler().stop()

    asyncio.run(scenario())
