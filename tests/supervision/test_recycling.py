"""``cron_restart`` and ``max_age`` against a real ``Supervisor`` of fakes: the clock is stepped.

The wall clock the cron times are read on is made from the fake timers'
clock, so one ``advance`` moves both.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from procward.kit import _structs as structs
from procward.kit._paths import InstancePaths
from procward.supervision.machine import State
from procward.supervision.spec import AppSpec, ReloadMode
from procward.supervision.supervisor import Supervisor
from tests.supervision.fakes import FakeSpawner, FakeTimers
from tests.supervision.test_supervisor_fake import exit_, turns

BERLIN = ZoneInfo("Europe/Berlin")
START = 1000.0  # the fake timers' clock at the start
World = tuple[Supervisor, FakeTimers, FakeSpawner]


def wall_at(*when: int) -> float:
    return datetime(*when, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Callable[[World], Awaitable[None]]], None]:
    """A supervisor of fakes whose wall clock reads 2026-06-01 02:58:00 in Berlin at the start."""
    paths = InstancePaths("procward", "fake", str(tmp_path / "run"), str(tmp_path / "state"))

    def runner(body: Callable[[World], Awaitable[None]]) -> None:
        async def main() -> None:
            timers, spawner = FakeTimers(START), FakeSpawner()
            sup = Supervisor(paths, environ={"PATH": "/bin"}, timers=timers, spawner=spawner)
            base = wall_at(2026, 6, 1, 2, 58) - START
            sup.wall_clock = lambda: base + timers.now()
            sup.zone = BERLIN
            try:
                await asyncio.wait_for(body((sup, timers, spawner)), 5.0)
            finally:
                sup.stop_recycling()
                sup.close_logs()

        asyncio.run(main())

    return runner


async def start(sup: Supervisor, timers: FakeTimers, spec: AppSpec) -> list[int]:
    sup.add(spec, "test", desired=False)
    starting = asyncio.get_running_loop().create_task(sup.start([spec.name]))
    await turns()
    timers.advance(spec.min_start)
    await starting
    return [i.record.pid for i in sup.app(spec.name).instances if i.record.pid is not None]


async def step(timers: FakeTimers, seconds: float = 0.0) -> None:
    """Move the clock, let the loop run, then what that armed for now (the next look)."""
    timers.advance(seconds)
    await turns(10)
    timers.advance(0)
    await turns(10)


def signalled(spawner: FakeSpawner) -> list[int]:
    return [pid for pid, _ in spawner.signals]


def reasons(sup: Supervisor, name: str) -> list[tuple[int, str | None]]:
    return [
        (e["instance"], e["why"]) for e in sup.events.recent(100, name) if e["to"] == "reloading"
    ]


def test_cron_restart_reloads_at_its_time_and_arms_the_next(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec("web", ("web",), instances=2, min_start=1.0, cron_restart="0 3 * * *")
        old = await start(sup, timers, spec)
        app = sup.app("web")
        view = sup.recycling(app)
        assert view is not None and view["next_cron_restart"] == wall_at(2026, 6, 1, 3, 0)
        await step(timers, 118.0)  # 02:59:59: not yet
        assert signalled(spawner) == []
        await step(timers, 1.0)  # 03:00:00: the first instance, by the rolling reload
        assert signalled(spawner) == old[:1]
        exit_(sup, spawner, old[0])
        await step(timers)
        await step(timers, 1.0)  # its replacement runs: then the second
        assert signalled(spawner) == old
        exit_(sup, spawner, old[1])
        await step(timers)
        await step(timers, 1.0)
        assert [i.state for i in app.instances] == [State.RUNNING] * 2
        assert len(spawner.pids) == 4
        assert reasons(sup, "web") == [(0, "cron_restart 0 3 * * *"), (1, "cron_restart 0 3 * * *")]
        view = sup.recycling(app)
        assert view is not None and view["next_cron_restart"] == wall_at(2026, 6, 2, 3, 0)

    run(body)


def test_a_stopped_app_has_no_cron_timer_and_a_started_one_gets_it_back(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        await start(sup, timers, AppSpec("web", ("web",), min_start=0.0, cron_restart="@hourly"))
        stopping = asyncio.get_running_loop().create_task(sup.stop(["web"]))
        await turns()
        exit_(sup, spawner, spawner.pids[0])
        await stopping
        view = sup.recycling(sup.app("web"))
        assert view is not None and view["next_cron_restart"] is None
        await sup.start(["web"])
        view = sup.recycling(sup.app("web"))
        assert view is not None and view["next_cron_restart"] == wall_at(2026, 6, 1, 3, 0)

    run(body)


def test_max_age_replaces_one_instance_at_a_time(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec(
            "web", ("web",), instances=2, min_start=1.0, max_age=100.0, max_age_jitter=0.0
        )
        old = await start(sup, timers, spec)
        app = sup.app("web")
        await step(timers, 98.9)  # never before max_age (from the spawn, 1s ago)
        assert signalled(spawner) == []
        await step(timers, 0.1)
        assert signalled(spawner) == old[:1]  # both are as old: one at a time
        await step(timers, 5.0)  # the first one is still stopping: the second waits
        assert signalled(spawner) == old[:1]
        exit_(sup, spawner, old[0])
        await step(timers)
        await step(timers, 1.0)
        assert signalled(spawner) == old  # now the second
        exit_(sup, spawner, old[1])
        await step(timers)
        await step(timers, 1.0)
        assert [i.state for i in app.instances] == [State.RUNNING] * 2
        assert reasons(sup, "web") == [(0, "max_age 1m40s"), (1, "max_age 1m40s")]
        # The new ones are replaced in turn, max_age after their own start
        view = sup.recycling(app)
        assert view is not None
        now = sup.wall_clock()
        assert [round(t - now, 3) for t in view["replace_at"].values()] == [98.0, 99.0]

    run(body)


def test_max_age_with_surge_starts_the_new_process_first(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec(
            "web",
            ("web",),
            min_start=1.0,
            max_age=50.0,
            max_age_jitter=0.0,
            reload=ReloadMode.SURGE,
        )
        old = await start(sup, timers, spec)
        await step(timers, 50.0)
        assert len(spawner.pids) == 2 and signalled(spawner) == []  # the new one first
        await step(timers, 1.0)
        assert signalled(spawner) == old  # running: now the old one stops
        exit_(sup, spawner, old[0])
        await step(timers)
        assert [i.record.pid for i in sup.app("web").instances] == spawner.pids[1:]

    run(body)


def test_jitter_spreads_the_ages_within_max_age_and_max_age_plus_jitter(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, _spawner = world
        spec = AppSpec("web", ("web",), instances=4, min_start=1.0, max_age=3600.0)
        await start(sup, timers, spec)
        sup.recycler.rng = random.Random(7)
        view = sup.recycling(sup.app("web"))
        assert view is not None and view["max_age_jitter"] == 360.0  # a tenth, by default
        ages = [t - sup.wall_clock() + 1.0 for t in view["replace_at"].values()]
        assert all(3600.0 <= age <= 3960.0 for age in ages)
        assert len(set(ages)) == 4
        again = sup.recycling(sup.app("web"))
        assert again == view  # drawn once per process

    run(body)


def test_no_recycler_for_apps_without_the_keys(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, _spawner = world
        await start(sup, timers, AppSpec("web", ("web",), min_start=1.0))
        assert sup._recycler is None
        assert sup.recycling(sup.app("web")) is None

    run(body)


def test_an_operators_reload_waits_for_a_max_age_replacement(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec(
            "web", ("web",), instances=2, min_start=1.0, max_age=100.0, max_age_jitter=0.0
        )
        old = await start(sup, timers, spec)
        await step(timers, 99.0)
        assert signalled(spawner) == old[:1]  # max_age replaces instance 0
        reloading = asyncio.get_running_loop().create_task(sup.reload(["web"]))
        await step(timers, 5.0)
        assert signalled(spawner) == old[:1]  # the reload waits: nothing else is stopped
        exit_(sup, spawner, old[0])
        await step(timers)
        await step(timers, 1.0)  # the replacement runs: now the reload, from instance 0
        new = sup.app("web").instances[0].record.pid
        assert signalled(spawner)[1:] == [new]
        assert not reloading.done()
        reloading.cancel()

    run(body)


def test_a_scale_or_restart_waits_for_a_max_age_replacement(run: Any) -> None:
    """Scaling down under a replacement would take away the instance it replaces."""

    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec(
            "web", ("web",), instances=2, min_start=1.0, max_age=100.0, max_age_jitter=0.0
        )
        old = await start(sup, timers, spec)
        await step(timers, 99.0)
        assert signalled(spawner) == old[:1]  # max_age replaces instance 0
        loop = asyncio.get_running_loop()
        scaling = loop.create_task(sup.scale("web", 1))
        restarting = loop.create_task(sup.restart(["web"]))
        await step(timers, 5.0)
        assert not scaling.done() and not restarting.done()
        assert len(sup.app("web").instances) == 2  # the scale waits
        assert signalled(spawner) == old[:1]  # and so does the restart
        exit_(sup, spawner, old[0])
        await step(timers)
        await step(timers, 1.0)  # the replacement runs: then the scale stops instance 1
        await step(timers)
        assert signalled(spawner)[1:] == [old[1]]
        exit_(sup, spawner, old[1])
        await step(timers)
        await step(timers)
        assert scaling.done()
        assert len(sup.app("web").instances) == 1
        restarting.cancel()

    run(body)


def test_a_deleted_app_leaves_nothing_in_the_recycler(run: Any) -> None:
    """Its ages and its lock go with it: the recycler holds live apps only."""

    async def body(world: World) -> None:
        sup, timers, spawner = world
        spec = AppSpec("web", ("web",), min_start=1.0, max_age=100.0)
        await start(sup, timers, spec)
        async with sup.unrecycled("web"):  # as an operator's restart or scale does
            pass
        assert "web" in sup.recycler._locks
        deleting = asyncio.get_running_loop().create_task(sup.delete("web"))
        await step(timers)
        for pid in spawner.pids:
            exit_(sup, spawner, pid)
        await step(timers)
        await step(timers)
        assert deleting.done()
        assert sup.recycler._locks == {} and sup.recycler._limits == {}

    run(body)


def test_a_new_definition_that_scales_does_not_wait_for_itself(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, _ = world
        spec = AppSpec("web", ("web",), instances=1, min_start=1.0, max_age=100.0)
        await start(sup, timers, spec)
        redefining = asyncio.get_running_loop().create_task(
            sup.redefine(structs.replace(spec, instances=2), "test")
        )
        await step(timers, 2.0)
        assert redefining.done() and redefining.result() == "scaled"
        assert len(sup.app("web").instances) == 2

    run(body)


def test_the_cron_time_is_read_on_the_wall_clock_which_may_jump(run: Any) -> None:
    """Set back an hour: 03:00 comes an hour later. Slept through: it runs on waking."""

    async def body(world: World) -> None:
        sup, timers, spawner = world
        jump = [0.0]
        base = sup.wall_clock
        sup.wall_clock = lambda: base() + jump[0]
        await start(sup, timers, AppSpec("web", ("web",), min_start=1.0, cron_restart="0 3 * * *"))
        jump[0] = -3600.0  # now 01:58:01
        await step(timers, 119.0)  # 02:00 on the wall: not yet
        assert signalled(spawner) == []
        await step(timers, 3600.0)
        assert len(signalled(spawner)) == 1  # 03:00 on the wall
        exit_(sup, spawner, spawner.pids[0])
        await step(timers)
        await step(timers, 1.0)
        jump[0] += 86400.0  # the machine slept a day: 03:00 has passed again
        await step(timers, 300.0)  # the next look at the wall clock
        assert len(signalled(spawner)) == 2
        view = sup.recycling(sup.app("web"))
        assert view is not None and view["next_cron_restart"] == wall_at(2026, 6, 3, 3, 0)

    run(body)
