"""Periodic and delayed jobs tied to a daemon's lifetime.

Each job is one asyncio task that sleeps until its next due time, so an idle
daemon costs a timer, not a wake-up per tick of some global clock. A periodic
job keeps a fixed rate (due times are ``start + k * interval``, skipping ticks
it missed rather than bunching them), runs one call at a time, and survives
its own exceptions: they are logged and the next tick comes as planned.
``stop()`` cancels everything; ``Daemon`` calls it during shutdown.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable

from procward.kit._structs import Struct

log = logging.getLogger("procward.kit.scheduler")

JobFunc = Callable[[], object]  # awaited if it returns an awaitable; else its result is dropped


class Job(Struct, frozen=False, eq=False):
    name: str
    func: JobFunc
    interval: float | None  # None: run once
    delay: float
    runs: int = 0
    failures: int = 0
    task: asyncio.Task[None] | None = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class Scheduler:
    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._running = False

    def every(
        self, interval: float, func: JobFunc, *, name: str, first: float | None = None
    ) -> Job:
        """Run ``func`` every ``interval`` s, the first time after ``first`` s."""
        if interval <= 0:
            raise ValueError(f"{name}: interval must be positive, got {interval}")
        return self._add(Job(name, func, interval, interval if first is None else first))

    def after(self, delay: float, func: JobFunc, *, name: str) -> Job:
        return self._add(Job(name, func, None, delay))

    def cancel(self, job: Job) -> None:
        """Stop ``job`` for good (a periodic one too) and forget it."""
        job.cancel()
        if job in self.jobs:
            self.jobs.remove(job)

    def _add(self, job: Job) -> Job:
        self.jobs.append(job)
        if self._running:
            self._launch(job)
        return job

    def start(self) -> None:
        self._running = True
        for job in self.jobs:
            if job.task is None:
                self._launch(job)

    async def stop(self, timeout: float = 1.0) -> None:
        self._running = False
        tasks = [job.task for job in self.jobs if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _launch(self, job: Job) -> None:
        job.task = asyncio.create_task(self._drive(job), name=f"job:{job.name}")
        job.task.add_done_callback(
            lambda _t: self.jobs.remove(job) if job.interval is None else None
        )

    async def _drive(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + job.delay
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._run_once(job)
            if job.interval is None:
                return
            now = loop.time()
            due += job.interval
            if due <= now:  # we fell behind: skip missed ticks
                due = now + job.interval - (now - due) % job.interval

    async def _run_once(self, job: Job) -> None:
        job.runs += 1
        try:
            result = job.func()
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            job.failures += 1
            log.exception("scheduled job %s failed", job.name)
