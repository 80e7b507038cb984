"""Probes on the fake clock: each check falls due on the host's timers, stepped by the test.

A check itself is real (a TCP connect to 127.0.0.1, answered or refused at
once by the kernel); only the waiting between checks is the fake clock's,
so a 5 s interval costs no time at all.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from procward.supervision.app import App
from procward.supervision.instance import Instance
from procward.supervision.machine import Start, State, Stop
from procward.supervision.probe import Probe, ProbeKind
from procward.supervision.spec import AppSpec, Backoff
from tests.supervision.fakes import FakeHost

Body = Callable[[FakeHost], Awaitable[None]]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Body], None]:
    """Run a test body in a loop, with a host of fakes whose probe checks use that loop."""

    def runner(body: Body) -> None:
        async def main() -> None:
            host = FakeHost(str(tmp_path / "logs"), asyncio.get_running_loop())
            await asyncio.wait_for(body(host), 5.0)

        asyncio.run(main())

    return runner


@pytest.fixture
def port() -> Iterator[tuple[socket.socket, int]]:
    """A port of 127.0.0.1 held by a socket, bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock, sock.getsockname()[1]


def one(host: FakeHost, **spec: Any) -> Instance:
    app = App(host, AppSpec("web", ("serve",), **spec), "test", desired=True)
    return app.instances[0]


def tcp(port: int, **fields: Any) -> Probe:
    return Probe(ProbeKind.TCP, target=f"127.0.0.1:{port}", **fields)


async def step(host: FakeHost, inst: Instance, seconds: float) -> None:
    """Move the clock by ``seconds``; a check that fell due on the way runs to its end."""
    before = inst.prober.task
    host.timers.advance(seconds)
    task = inst.prober.task
    if task is not None and task is not before:
        await asyncio.wait([task])


def started(host: FakeHost, inst: Instance) -> int:
    inst.send(Start())
    host.timers.advance(inst.spec.min_start)
    assert inst.state is State.RUNNING
    return host.spawner.pids[-1]


def test_a_health_check_runs_once_each_interval_of_the_hosts_clock(
    run: Any, port: tuple[socket.socket, int]
) -> None:
    sock, number = port
    sock.listen()

    async def body(host: FakeHost) -> None:
        inst = one(host, health=tcp(number, interval=5.0))
        started(host, inst)
        await step(host, inst, 4.99)
        assert inst.prober.checks == 0  # not a moment early
        await step(host, inst, 0.01)
        assert inst.prober.checks == 1 and inst.prober.passing is True
        for expected in (2, 3, 4):
            await step(host, inst, 5.0)
            assert inst.prober.checks == expected
        assert host.timers.pending() == [5.0]  # the next, a whole interval after this one

    run(body)


def test_health_failing_past_its_threshold_restarts_the_instance(
    run: Any, port: tuple[socket.socket, int]
) -> None:
    _, number = port  # refused: every check fails

    async def body(host: FakeHost) -> None:
        inst = one(host, health=tcp(number, interval=5.0, failures=3), backoff=Backoff(1.0))
        pid = started(host, inst)
        for failed in (1, 2):
            await step(host, inst, 5.0)
            assert inst.prober.failures == failed and inst.state is State.RUNNING
        await step(host, inst, 5.0)
        assert inst.state is State.STOPPING and host.spawner.signalled(pid) == ["TERM"]
        assert inst.record.error is not None
        assert inst.record.error.startswith("health check failed 3 times in a row (tcp 127.0.0.1:")
        host.exit(pid, sig=signal.SIGTERM)
        assert inst.state is State.BACKOFF and inst.record.restarts == 1
        host.timers.advance(1.0)
        assert inst.state is State.RUNNING and host.spawner.pids[-1] != pid
        assert not inst.record.proven and inst.prober.checks == 3  # probed once proven

    run(body)


def test_a_stop_disarms_the_next_check(run: Any, port: tuple[socket.socket, int]) -> None:
    sock, number = port
    sock.listen()

    async def body(host: FakeHost) -> None:
        inst = one(host, health=tcp(number, interval=5.0))
        pid = started(host, inst)
        inst.send(Stop())
        host.exit(pid, sig=signal.SIGTERM)
        await step(host, inst, 60.0)
        assert inst.state is State.STOPPED and inst.prober.checks == 0
        assert host.timers.pending() == []

    run(body)


def test_readiness_is_tried_again_sooner_then_every_interval(
    run: Any, port: tuple[socket.socket, int]
) -> None:
    sock, number = port

    async def body(host: FakeHost) -> None:
        inst = one(host, ready=tcp(number, interval=1.0))
        inst.send(Start())
        delays = []
        for _ in range(8):  # refused each time: 0.02 s, then doubling up to the interval
            delays.append(host.timers.pending()[0])
            await step(host, inst, delays[-1])
        assert delays == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0])
        assert inst.state is State.STARTING and inst.prober.checks == 8
        sock.listen()
        await step(host, inst, 1.0)
        assert inst.state is State.RUNNING and inst.prober.passing is True

    run(body)


def test_a_delay_probe_is_ready_after_its_delay_on_the_fake_clock(tmp_path: Path) -> None:
    host = FakeHost(str(tmp_path / "logs"))  # no loop: a delay probe runs no check
    inst = one(host, ready=Probe(ProbeKind.DELAY, delay=2.0))
    inst.send(Start())
    host.timers.advance(1.99)
    assert inst.state is State.STARTING
    host.timers.advance(0.01)
    assert inst.state is State.RUNNING and inst.prober.passing is True
