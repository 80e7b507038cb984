"""The supervisor's operations, in-process: fake timers and a fake spawner, exits delivered by hand.

Operations are coroutines that wait for states; the test runs one as a
task, lets the loop turn, steps the fake clock and delivers exits through
the reaper's ``on_exit``, as SIGCHLD would.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from procward.kit._errors import InvalidParams, Timeout
from procward.kit._paths import InstancePaths
from procward.supervision.app import STOP_SLACK
from procward.supervision.machine import State
from procward.supervision.spec import AppSpec
from procward.supervision.supervisor import Supervisor
from tests.supervision.fakes import FakeSpawner, FakeTimers, exit_status

World = tuple[Supervisor, FakeTimers, FakeSpawner]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Callable[[World], Awaitable[None]]], None]:
    """Run a test body in a loop with a supervisor of fakes, its logs closed after."""
    paths = InstancePaths("procward", "fake", str(tmp_path / "run"), str(tmp_path / "state"))

    def runner(body: Callable[[World], Awaitable[None]]) -> None:
        async def main() -> None:
            timers, spawner = FakeTimers(), FakeSpawner()
            sup = Supervisor(paths, environ={"PATH": "/bin"}, timers=timers, spawner=spawner)
            try:
                await asyncio.wait_for(body((sup, timers, spawner)), 5.0)
            finally:
                sup.close_logs()

        asyncio.run(main())

    return runner


async def turns(n: int = 5) -> None:
    """Let the loop run what is ready (woken waiters, the next step of an operation)."""
    for _ in range(n):
        await asyncio.sleep(0)


def begin(operation: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(operation)


def exit_(sup: Supervisor, spawner: FakeSpawner, pid: int, sig: int = signal.SIGTERM) -> None:
    spawner.end(pid)
    sup.reaper.on_exit(pid, exit_status(sig=sig))


def names(sup: Supervisor, spawner: FakeSpawner, pids: list[int] | None = None) -> list[str]:
    """The apps of ``pids`` (every spawn if None), in spawn order."""
    spawned = dict(spawner.spawned)
    return [spawned[p].env["PROCWARD_APP"] for p in (spawner.pids if pids is None else pids)]


def test_start_waits_for_each_dependency_to_run_and_stop_goes_in_reverse(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        sup.add(AppSpec("db", ("db",), min_start=2.0), "test", desired=False)
        sup.add(AppSpec("web", ("web",), depends_on=("db",)), "test", desired=False)
        starting = begin(sup.start(["web"]))
        await turns()
        assert names(sup, spawner) == ["db"]  # web waits for db to be running
        timers.advance(1.99)
        await turns()
        assert names(sup, spawner) == ["db"]
        timers.advance(0.01)
        await turns()
        assert names(sup, spawner) == ["db", "web"]
        await starting
        db, web = spawner.pids

        stopping = begin(sup.stop(sup.dependents(["db"])))
        await turns()
        assert [p for p, _ in spawner.signals] == [web]  # dependents first
        exit_(sup, spawner, web)
        await turns()
        assert [p for p, _ in spawner.signals] == [web, db]
        exit_(sup, spawner, db)
        await stopping
        assert {i.state for a in sup.apps.values() for i in a.instances} == {State.STOPPED}

    run(body)


def test_a_dependency_not_running_keeps_its_dependent_down(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        sup.add(AppSpec("db", ("db",)), "test", desired=False)
        sup.add(AppSpec("web", ("web",), depends_on=("db",)), "test", desired=False)
        spawner.fail_next = "db: command not found"
        await sup.start(["web"])  # db settles in backoff: web is not started
        assert sup.app("db").instances[0].state is State.BACKOFF
        assert names(sup, spawner) == []
        assert sup.app("web").last_error == "not started: db is not running"
        timers.advance(1.0)  # db's retry spawns, and runs after min_start
        timers.advance(1.0)
        assert sup.app("db").instances[0].state is State.RUNNING
        await sup.start(["web"])
        assert names(sup, spawner) == ["db", "web"]

    run(body)


async def stopping_one(
    sup: Supervisor, spawner: FakeSpawner, stop_timeout: float
) -> tuple[int, asyncio.Task[None]]:
    """``web`` started, and its stop begun (the stop signal sent): its pid, the stop."""
    sup.add(
        AppSpec("web", ("web",), min_start=0.0, stop_timeout=stop_timeout), "test", desired=False
    )
    await sup.start(["web"])
    (pid,) = spawner.pids
    stopping = begin(sup.stop(["web"]))
    await turns()
    return pid, stopping


def test_stop_escalates_to_kill_after_stop_timeout(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        pid, stopping = await stopping_one(sup, spawner, stop_timeout=4.0)
        assert spawner.signalled(pid) == ["TERM"]
        timers.advance(3.99)
        assert spawner.signalled(pid) == ["TERM"]
        timers.advance(0.01)
        assert spawner.signalled(pid) == ["TERM", "KILL"]
        exit_(sup, spawner, pid, signal.SIGKILL)
        await stopping
        events = [(e["from"], e["to"]) for e in sup.events.recent(10)]
        assert events[-1] == ("stopping", "stopped")

    run(body)


def test_a_stop_the_process_outlives_times_out_on_the_same_clock(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        pid, stopping = await stopping_one(sup, spawner, stop_timeout=4.0)
        timers.advance(4.0 + STOP_SLACK - 0.01)  # killed at 4 s, and not gone yet
        await turns()
        assert spawner.signalled(pid) == ["TERM", "KILL"] and not stopping.done()
        timers.advance(0.01)
        with pytest.raises(Timeout, match=r"web did not stop within"):
            await stopping

    run(body)


def test_a_dependency_gets_the_starts_timeout_of_the_same_clock_to_run(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        sup.add(AppSpec("db", ("db",), min_start=10.0), "test", desired=False)
        sup.add(AppSpec("web", ("web",), depends_on=("db",)), "test", desired=False)
        starting = begin(sup.start(["web"], timeout=5.0))
        await turns()
        timers.advance(4.99)
        await turns()
        assert not starting.done()
        timers.advance(0.01)
        with pytest.raises(Timeout, match=r"db did not start within 5s"):
            await starting
        assert names(sup, spawner) == ["db"]

    run(body)


def test_a_crash_restarts_after_backoff_through_the_reaper(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        sup.add(AppSpec("web", ("web",), min_start=0.0), "test", desired=False)
        await sup.start(["web"])
        (first,) = spawner.pids
        spawner.end(first)
        sup.reaper.on_exit(first, exit_status(code=2))
        inst = sup.app("web").instances[0]
        assert inst.state is State.BACKOFF and sup.children == {}
        timers.advance(1.0)
        assert inst.state is State.RUNNING and first not in sup.children
        assert list(sup.children) == spawner.pids[1:]

    run(body)


def test_reload_replaces_one_instance_at_a_time(run: Any) -> None:
    async def body(world: World) -> None:
        sup, timers, spawner = world
        sup.add(AppSpec("web", ("web",), instances=2, min_start=1.0), "test", desired=False)
        starting = begin(sup.start(["web"]))
        await turns()
        timers.advance(1.0)
        await starting
        old = list(spawner.pids)
        reloading = begin(sup.reload(["web"]))
        await turns()
        assert [p for p, _ in spawner.signals] == [old[0]]  # the second is left alone
        exit_(sup, spawner, old[0])
        timers.advance(0)  # respawned on the next pass
        await turns()
        assert len(spawner.pids) == 3 and [p for p, _ in spawner.signals] == [old[0]]
        timers.advance(1.0)  # the replacement is running: now the next one
        await turns()
        assert [p for p, _ in spawner.signals] == old
        exit_(sup, spawner, old[1])
        timers.advance(0)
        timers.advance(1.0)
        await reloading
        assert [i.record.pid for i in sup.app("web").instances] == spawner.pids[2:]

    run(body)


def test_scale_up_starts_the_new_instances_and_down_stops_the_last(run: Any) -> None:
    async def body(world: World) -> None:
        sup, _timers, spawner = world
        sup.add(AppSpec("web", ("web",), min_start=0.0), "test", desired=False)
        await sup.start(["web"])
        await sup.scale("web", 3)
        app = sup.app("web")
        assert [i.state for i in app.instances] == [State.RUNNING] * 3
        assert [p.env["PROCWARD_INDEX"] for _, p in spawner.spawned] == ["0", "1", "2"]
        shrinking = begin(sup.scale("web", 1))
        await turns()
        doomed = spawner.pids[1:]
        assert [p for p, _ in spawner.signals] == doomed
        for pid in doomed:
            exit_(sup, spawner, pid)
        await shrinking
        assert len(app.instances) == 1 and app.instances[0].state is State.RUNNING
        assert app.spec.instances == 1

    run(body)


def test_scale_refuses_more_than_the_cap(run: Any) -> None:
    async def body(world: World) -> None:
        sup, _timers, spawner = world
        sup.add(AppSpec("web", ("web",)), "test", desired=False)
        sup.max_total_instances = 2
        with pytest.raises(InvalidParams, match="max_total_instances"):
            await sup.scale("web", 3)
        assert spawner.spawned == []

    run(body)
