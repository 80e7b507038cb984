"""The lifecycle of one instance: a pure state machine.

Everything that decides an instance's state lives here, as h11 keeps its
protocol rules in one module: events and ``now`` come in, the new record and
a list of actions go out. The shell (``supervisor.py``) performs the actions
(spawn, signal the process group, set or cancel a timer) and turns what
happens back into events. No I/O, no clock, no processes: the tests walk the
whole table with plain values.

    stopped ──Start──► starting ──Spawned──► running
       ▲                  │  ▲                         │
       │            Exited│  └──────BackoffElapsed──┐  │Exited
       │                  ▼                         │  ▼
       │               (policy) ──restart──► backoff ┘
       │                  │ ╲
       │       clean, no restart   budget spent
       │                  ▼          ▼
       │               exited      crashed
       │
       └── Exited ◄── stopping ◄──Stop── starting | running   (TERM, then KILL on StopTimeout)

Without a ``ready`` probe a spawned process is ``running`` at once, as it is:
its first ``min_start`` is a probation (``proven`` False) that
``StartupElapsed`` ends. Until then it does not count as started for the apps
that depend on it, nor is its health probed; an exit in it goes to the restart
policy as any exit does. With a ``ready`` probe, ``starting`` lasts until
``Ready``, and ``StartupElapsed`` (``start_timeout``) is a failed start. A failed start and
an ``Unhealthy`` report (a ``health`` probe that failed ``failures`` times in
a row) and ``OverMemory`` (``max_memory`` passed, ``memoryguard.py``) stop
the process like an operator would, but remember why: its exit
then goes to the restart policy as a failure (backoff, budget, ``crashed``),
not to ``stopped``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from procward.kit._durations import format_duration
from procward.kit._structs import Struct, field, replace
from procward.supervision.policy import Budget, after_exit
from procward.supervision.spec import AppSpec


class State(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    BACKOFF = "backoff"
    EXITED = "exited"
    CRASHED = "crashed"


ACTIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})  # a process exists
AT_REST = frozenset({State.STOPPED, State.EXITED, State.CRASHED})


# -- events ----------------------------------------------------------------------


class Start(Struct):
    """Someone wants the instance running (an operator, start-up, a restart)."""


class Stop(Struct):
    """Someone wants the instance stopped; ``restart`` starts it again after."""

    restart: bool = False


class Spawned(Struct):
    pid: int


class SpawnFailed(Struct):
    error: str


class Exited(Struct):
    code: int | None  # exit status, or None when killed by a signal
    signal: int | None = None
    never_ran: str | None = None  # why the program never started (the spawn shim said)


class StartupElapsed(Struct):
    """``min_start`` or the ready probe's ``start_timeout`` passed.

    ``probe`` names the ready probe as this instance runs it (its own
    ``$PORT`` filled in), for the failure's reason; the shell knows it.
    """

    probe: str = ""


class BackoffElapsed(Struct):
    pass


class StopTimeout(Struct):
    pass


class Ready(Struct):
    """The ``ready`` probe passed."""


class Unhealthy(Struct):
    """The ``health`` probe failed ``failures`` times in a row."""

    reason: str


class OverMemory(Struct):
    """Its memory stayed above ``max_memory`` (memoryguard.py): restarted as a failure."""

    reason: str


Event = (
    Start
    | Stop
    | Spawned
    | SpawnFailed
    | Exited
    | StartupElapsed
    | BackoffElapsed
    | StopTimeout
    | Ready
    | Unhealthy
    | OverMemory
)


# -- actions ---------------------------------------------------------------------


class Timer(enum.StrEnum):
    STARTUP = "startup"
    BACKOFF = "backoff"
    STOP = "stop"


class Spawn(Struct):
    pass


class SignalGroup(Struct):
    signal: str  # a name such as "TERM" or "KILL"


class SetTimer(Struct):
    timer: Timer
    delay: float


class CancelTimer(Struct):
    timer: Timer


class Check(enum.StrEnum):
    READY = "ready"
    HEALTH = "health"


class StartProbe(Struct):
    check: Check


class StopProbes(Struct):
    pass


Action = Spawn | SignalGroup | SetTimer | CancelTimer | StartProbe | StopProbes


# -- the record --------------------------------------------------------------------


class Record(Struct):
    state: State = State.STOPPED
    pid: int | None = None
    started_at: float | None = None  # `now` of the last spawn
    attempt: int = 0  # consecutive failures
    budget: Budget = field(default_factory=Budget)
    restarts: int = 0  # automatic restarts, ever
    exit_code: int | None = None
    exit_signal: int | None = None
    error: str | None = None  # why the last start failed
    restart_after_stop: bool = False
    failure: str | None = None  # stopping because it failed (not ready, unhealthy)
    proven: bool = True  # running past min_start (False: in its probation, the timer set)


Step = tuple[Record, list[Action]]


def step(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    """Apply one event; return the new record and what the shell must do."""
    handler = _HANDLERS.get((rec.state, type(event)))
    if handler is None:
        return rec, []  # e.g. a Start while running: nothing to do
    return handler(rec, event, spec, now)


def _start(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    # An explicit start forgives earlier failures: the operator is trying again.
    fresh = replace(rec, state=State.STARTING, attempt=0, budget=Budget(), error=None)
    cancel = [CancelTimer(Timer.BACKOFF)] if rec.state is State.BACKOFF else []
    return fresh, [*cancel, Spawn()]


def _spawned(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Spawned)
    new = replace(rec, pid=event.pid, started_at=now, exit_code=None, exit_signal=None)
    if spec.ready is not None:
        return new, [SetTimer(Timer.STARTUP, spec.ready.start_timeout), StartProbe(Check.READY)]
    if spec.min_start <= 0:
        return _running(new, event, spec, now)
    # Running, as it is; proven once it has lasted min_start.
    return replace(new, state=State.RUNNING, proven=False), [
        SetTimer(Timer.STARTUP, spec.min_start)
    ]


def _running(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    health: list[Action] = [StartProbe(Check.HEALTH)] if spec.health is not None else []
    return replace(rec, state=State.RUNNING, proven=True), health


def _proven(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    """A process running without a ready probe lasted ``min_start``."""
    if rec.proven:
        return rec, []
    return _running(rec, event, spec, now)


def _startup_timer(rec: Record) -> list[Action]:
    """Cancel the startup timer, if one is set (starting, or running unproven)."""
    pending = rec.state is State.STARTING or (rec.state is State.RUNNING and not rec.proven)
    return [CancelTimer(Timer.STARTUP)] if pending else []


def _startup_elapsed(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    if spec.ready is None:  # survived min_start
        return _running(rec, event, spec, now)
    assert isinstance(event, StartupElapsed)
    wait = format_duration(spec.ready.start_timeout)
    return _fail(rec, spec, f"not ready within {wait} ({event.probe or spec.ready.describe})")


def _ready(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    new, actions = _running(rec, event, spec, now)
    return new, [CancelTimer(Timer.STARTUP), *actions]


def _unhealthy(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Unhealthy | OverMemory)
    return _fail(rec, spec, event.reason)


def _stop_probes(spec: AppSpec) -> list[Action]:
    return [StopProbes()] if spec.ready is not None or spec.health is not None else []


def _fail(rec: Record, spec: AppSpec, reason: str) -> Step:
    """Stop a process that failed its probe; its exit is then judged as a failure."""
    cancel = _startup_timer(rec)
    new = replace(rec, state=State.STOPPING, failure=reason, error=reason, proven=True)
    return new, [
        *_stop_probes(spec),
        *cancel,
        SignalGroup(spec.stop_signal),
        SetTimer(Timer.STOP, spec.stop_timeout),
    ]


def _spawn_failed(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, SpawnFailed)
    return _after_failure(replace(rec, error=event.error), spec, now, clean=False, ran_for=0.0)


def _exited(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Exited)
    ran_for = now - rec.started_at if rec.started_at is not None else 0.0
    rec = replace(rec, pid=None, exit_code=event.code, exit_signal=event.signal)
    clean = event.code == 0
    if event.never_ran is not None:  # as a failed spawn: its reason, no run
        rec, clean, ran_for = replace(rec, error=event.never_ran), False, 0.0
    cancel = _startup_timer(rec)
    rec = replace(rec, proven=True)
    new, actions = _after_failure(rec, spec, now, clean=clean, ran_for=ran_for)
    return new, [*_stop_probes(spec), *cancel, *actions]


def _after_failure(rec: Record, spec: AppSpec, now: float, *, clean: bool, ran_for: float) -> Step:
    verdict = after_exit(
        spec, clean=clean, ran_for=ran_for, attempt=rec.attempt, budget=rec.budget, now=now
    )
    if verdict.crashed:
        return replace(rec, state=State.CRASHED, attempt=verdict.attempt), []
    if not verdict.restart:
        return replace(rec, state=State.EXITED), []
    rec = replace(rec, attempt=verdict.attempt, budget=verdict.budget, restarts=rec.restarts + 1)
    if verdict.delay <= 0:
        return replace(rec, state=State.STARTING), [Spawn()]
    return replace(rec, state=State.BACKOFF), [SetTimer(Timer.BACKOFF, verdict.delay)]


def _backoff_elapsed(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    return replace(rec, state=State.STARTING), [Spawn()]


def _stop_process(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Stop)
    cancel = _startup_timer(rec)
    if rec.pid is None:  # spawn still in flight or failed: nothing to signal
        return replace(rec, state=State.STOPPED, restart_after_stop=False, proven=True), cancel
    new = replace(rec, state=State.STOPPING, restart_after_stop=event.restart, proven=True)
    return new, [
        *_stop_probes(spec),
        *cancel,
        SignalGroup(spec.stop_signal),
        SetTimer(Timer.STOP, spec.stop_timeout),
    ]


def _stop_at_rest(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Stop)
    if event.restart:
        return _start(rec, Start(), spec, now)
    return replace(rec, state=State.STOPPED), []


def _stop_backoff(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Stop)
    if event.restart:
        return _start(rec, Start(), spec, now)
    return replace(rec, state=State.STOPPED), [CancelTimer(Timer.BACKOFF)]


def _restart_later(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    return replace(rec, restart_after_stop=True), []


def _stop_while_stopping(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Stop)
    # An operator's stop wins over a failure in progress: stopped, not restarted.
    return replace(rec, restart_after_stop=event.restart, failure=None), []


def _stop_timeout(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    return rec, [SignalGroup("KILL")]


def _stopped(rec: Record, event: Event, spec: AppSpec, now: float) -> Step:
    assert isinstance(event, Exited)
    ran_for = now - rec.started_at if rec.started_at is not None else 0.0
    failure, rec = (
        rec.failure,
        replace(
            rec,
            state=State.STOPPED,
            pid=None,
            exit_code=event.code,
            exit_signal=event.signal,
            failure=None,
        ),
    )
    if rec.restart_after_stop:
        return _start(replace(rec, restart_after_stop=False), Start(), spec, now)
    actions: list[Action] = [CancelTimer(Timer.STOP)]
    if failure is not None:
        new, then = _after_failure(rec, spec, now, clean=False, ran_for=ran_for)
        return new, [*actions, *then]
    return rec, actions


_Handler = Callable[[Record, Event, AppSpec, float], Step]
_HANDLERS: dict[tuple[State, type], _Handler] = {
    **{(s, Start): _start for s in (*AT_REST, State.BACKOFF)},
    (State.STOPPING, Start): _restart_later,
    (State.STARTING, Spawned): _spawned,
    (State.STARTING, SpawnFailed): _spawn_failed,
    (State.STARTING, StartupElapsed): _startup_elapsed,
    (State.RUNNING, StartupElapsed): _proven,
    (State.STARTING, Ready): _ready,
    (State.RUNNING, Unhealthy): _unhealthy,
    (State.RUNNING, OverMemory): _unhealthy,
    (State.STARTING, Exited): _exited,
    (State.RUNNING, Exited): _exited,
    (State.BACKOFF, BackoffElapsed): _backoff_elapsed,
    (State.STARTING, Stop): _stop_process,
    (State.RUNNING, Stop): _stop_process,
    **{(s, Stop): _stop_at_rest for s in AT_REST},
    (State.BACKOFF, Stop): _stop_backoff,
    (State.STOPPING, Stop): _stop_while_stopping,
    (State.STOPPING, StopTimeout): _stop_timeout,
    (State.STOPPING, Exited): _stopped,
}
