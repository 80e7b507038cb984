"""The instance state machine, walked with plain values: no processes, no clock."""

from __future__ import annotations

import pytest

from procward.kit._structs import replace
from procward.supervision.machine import (
    BackoffElapsed,
    CancelTimer,
    Check,
    Exited,
    OverMemory,
    Ready,
    Record,
    SetTimer,
    SignalGroup,
    Spawn,
    Spawned,
    SpawnFailed,
    Start,
    StartProbe,
    StartupElapsed,
    State,
    Stop,
    StopProbes,
    StopTimeout,
    Timer,
    Unhealthy,
    step,
)
from procward.supervision.probe import Probe, ProbeKind
from procward.supervision.spec import AppSpec, Backoff, RestartMode

SPEC = AppSpec(name="web", cmd=("srv",), min_start=1.0, stop_timeout=10.0)


def run(
    events: list[object], spec: AppSpec = SPEC, rec: Record | None = None
) -> tuple[Record, list[list[object]]]:
    rec = rec or Record()
    now = 0.0
    out = []
    for event in events:
        if isinstance(event, float):  # a number advances the clock
            now += event
            continue
        rec, actions = step(rec, event, spec, now)  # type: ignore[arg-type]
        out.append(actions)
    return rec, out


def test_start_spawns_and_is_running_at_once_proven_after_min_start() -> None:
    rec, actions = run([Start(), Spawned(42)])
    assert actions == [[Spawn()], [SetTimer(Timer.STARTUP, 1.0)]]
    assert rec.state is State.RUNNING and rec.pid == 42 and not rec.proven
    rec, actions = run([1.0, StartupElapsed()], rec=rec)
    assert rec.state is State.RUNNING and rec.proven and actions == [[]]


def test_health_is_probed_once_min_start_is_over() -> None:
    probed = replace(SPEC, health=Probe(ProbeKind.TCP, "127.0.0.1:1"))
    rec, actions = run([Start(), Spawned(7)], probed)
    assert StartProbe(Check.HEALTH) not in actions[-1]
    rec, actions = run([StartupElapsed()], probed, rec)
    assert actions[-1] == [StartProbe(Check.HEALTH)] and rec.proven


def test_an_exit_in_the_probation_cancels_its_timer_and_goes_to_the_policy() -> None:
    rec, actions = run([Start(), Spawned(7), 0.3, Exited(3)])
    assert rec.state is State.BACKOFF and rec.proven and rec.restarts == 1
    assert actions[-1] == [CancelTimer(Timer.STARTUP), SetTimer(Timer.BACKOFF, 1.0)]


def test_a_stop_in_the_probation_cancels_its_timer() -> None:
    rec, actions = run([Start(), Spawned(7), Stop()])
    assert rec.state is State.STOPPING and rec.proven
    assert actions[-1][0] == CancelTimer(Timer.STARTUP)
    rec, actions = run([StartupElapsed()], rec=rec)  # a timer that fired all the same
    assert rec.state is State.STOPPING and actions == [[]]


def test_min_start_zero_is_running_at_once() -> None:
    rec, _ = run([Start(), Spawned(1)], replace(SPEC, min_start=0))
    assert rec.state is State.RUNNING


def test_crash_backs_off_then_respawns() -> None:
    rec, actions = run([Start(), Spawned(1), StartupElapsed(), 2.0, Exited(1)])
    assert rec.state is State.BACKOFF and rec.restarts == 1 and rec.pid is None
    assert actions[-1] == [SetTimer(Timer.BACKOFF, 1.0)]
    rec, actions = run([BackoffElapsed()], rec=rec)
    assert rec.state is State.STARTING and actions[-1] == [Spawn()]


def test_backoff_sequence_through_the_machine() -> None:
    spec = replace(SPEC, max_restarts=100, restart_window=1e9, min_uptime=1e9)
    rec, delays = Record(), []
    rec, _ = run([Start()], spec, rec)
    for pid in range(7):
        rec, actions = run([Spawned(pid), Exited(1)], spec, rec)
        timer = actions[-1][-1]
        assert isinstance(timer, SetTimer)
        delays.append(timer.delay)
        rec, _ = run([BackoffElapsed()], spec, rec)
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_crash_loop_ends_crashed_after_the_budget() -> None:
    spec = replace(SPEC, backoff=Backoff(0.01, 1, 0.01))
    rec, _ = run([Start()], spec)
    states = []
    for pid in range(10):
        rec, _ = run([Spawned(pid), 0.001, Exited(2)], spec, rec)
        states.append(rec.state)
        if rec.state is State.CRASHED:
            break
        rec, _ = run([BackoffElapsed()], spec, rec)
    assert states == [State.BACKOFF] * 5 + [State.CRASHED]
    assert rec.restarts == 5


def test_zero_backoff_respawns_without_a_timer() -> None:
    spec = replace(SPEC, backoff=Backoff(0, 2, 0))
    rec, actions = run([Start(), Spawned(1), Exited(None, 9)], spec)
    assert rec.state is State.STARTING and actions[-1] == [CancelTimer(Timer.STARTUP), Spawn()]
    assert rec.exit_signal == 9


def test_clean_exit_with_on_failure_is_exited() -> None:
    rec, _ = run([Start(), Spawned(1), StartupElapsed(), Exited(0)])
    assert rec.state is State.EXITED and rec.exit_code == 0


def test_clean_exit_with_always_restarts() -> None:
    rec, _ = run(
        [Start(), Spawned(1), StartupElapsed(), Exited(0)],
        replace(SPEC, restart=RestartMode.ALWAYS),
    )
    assert rec.state is State.BACKOFF


def test_never_restarts_even_on_failure() -> None:
    rec, _ = run([Start(), Spawned(1), Exited(3)], replace(SPEC, restart=RestartMode.NEVER))
    assert rec.state is State.EXITED and rec.exit_code == 3


def test_an_exit_whose_program_never_ran_is_a_failed_spawn_even_once_running() -> None:
    """A confined spawn's shim said why (after Spawned; min_start 0 made it running)."""
    spec = replace(SPEC, min_start=0.0, restart=RestartMode.ALWAYS)
    reason = "limits.nofile: cannot set 1073741824/1073741824"
    rec, _ = run([Start(), Spawned(1), 5.0, Exited(127, None, reason)], spec)
    failed, _ = run([Start(), SpawnFailed(reason)], spec)
    assert rec.state is failed.state is State.BACKOFF
    assert rec.error == failed.error == reason
    assert rec.attempt == failed.attempt == 1  # a failure, not a run that ended
    clean, _ = run([Start(), Spawned(1), 5.0, Exited(0, None, reason)], spec)
    assert clean.error == reason and clean.attempt == 1  # never "clean"


def test_stop_signals_the_group_and_escalates() -> None:
    rec, actions = run([Start(), Spawned(1), StartupElapsed(), Stop()])
    assert rec.state is State.STOPPING
    assert actions[-1] == [SignalGroup("TERM"), SetTimer(Timer.STOP, 10.0)]
    rec, actions = run([StopTimeout()], rec=rec)
    assert actions[-1] == [SignalGroup("KILL")]
    rec, actions = run([Exited(None, 9)], rec=rec)
    assert rec.state is State.STOPPED and actions[-1] == [CancelTimer(Timer.STOP)]


def test_a_stopped_instance_is_not_restarted_by_its_exit() -> None:
    rec, _ = run([Start(), Spawned(1), Stop(), Exited(1)])
    assert rec.state is State.STOPPED and rec.restarts == 0


def test_stop_during_backoff_cancels_the_restart() -> None:
    rec, _ = run([Start(), Spawned(1), Exited(1)])
    rec, actions = run([Stop()], rec=rec)
    assert rec.state is State.STOPPED and actions[-1] == [CancelTimer(Timer.BACKOFF)]
    rec, actions = run([BackoffElapsed()], rec=rec)  # a late timer changes nothing
    assert rec.state is State.STOPPED and actions[-1] == []


def test_restart_stops_then_starts() -> None:
    rec, _ = run([Start(), Spawned(1), StartupElapsed(), Stop(restart=True)])
    assert rec.state is State.STOPPING and rec.restart_after_stop
    rec, actions = run([Exited(0)], rec=rec)
    assert rec.state is State.STARTING and actions[-1] == [Spawn()]


def test_start_while_stopping_restarts_after_the_exit() -> None:
    rec, _ = run([Start(), Spawned(1), Stop(), Start(), Exited(0)])
    assert rec.state is State.STARTING


def test_stop_while_stopping_cancels_a_pending_restart() -> None:
    rec, _ = run([Start(), Spawned(1), Stop(restart=True), Stop(), Exited(0)])
    assert rec.state is State.STOPPED


def test_spawn_failure_follows_the_restart_policy() -> None:
    rec, _ = run([Start(), SpawnFailed("nope: command not found")])
    assert rec.state is State.BACKOFF and rec.error == "nope: command not found"
    spec = replace(SPEC, max_restarts=0)
    rec, _ = run([Start(), SpawnFailed("x")], spec)
    assert rec.state is State.CRASHED


def test_an_explicit_start_forgives_a_crash() -> None:
    spec = replace(SPEC, max_restarts=0)
    rec, _ = run([Start(), Spawned(1), Exited(1)], spec)
    assert rec.state is State.CRASHED
    rec, actions = run([Start()], spec, rec)
    assert rec.state is State.STARTING and rec.error is None and actions[-1] == [Spawn()]


@pytest.mark.parametrize("state", list(State))
def test_every_state_survives_every_event(state: State) -> None:
    events = [
        Start(),
        Stop(),
        Stop(restart=True),
        Spawned(5),
        SpawnFailed("x"),
        Exited(1),
        Exited(None, 15),
        StartupElapsed(),
        BackoffElapsed(),
        StopTimeout(),
    ]
    for event in events:
        rec, actions = step(Record(state=state), event, SPEC, 0.0)
        assert isinstance(rec.state, State)
        assert all(a is not None for a in actions)


# -- probes ---------------------------------------------------------------------

PROBED = replace(
    SPEC,
    ready=Probe(ProbeKind.TCP, target="8000", start_timeout=5.0),
    health=Probe(ProbeKind.TCP, target="8000", interval=10.0, failures=3),
    backoff=Backoff(initial=1.0, multiplier=2.0, max=30.0),
)


def test_with_a_ready_probe_starting_lasts_until_ready() -> None:
    rec, actions = run([Start(), Spawned(7), 1.5], PROBED)
    assert actions[1] == [SetTimer(Timer.STARTUP, 5.0), StartProbe(Check.READY)]
    assert rec.state is State.STARTING
    rec, actions = run([Start(), Spawned(7), 0.2, Ready()], PROBED)
    assert rec.state is State.RUNNING
    assert actions[-1] == [CancelTimer(Timer.STARTUP), StartProbe(Check.HEALTH)]


def test_not_ready_names_the_probe_as_the_instance_runs_it() -> None:
    rec, _ = run([Start(), Spawned(7), 5.0, StartupElapsed("tcp 127.0.0.1:8001")], PROBED)
    assert rec.error == "not ready within 5s (tcp 127.0.0.1:8001)"


def test_not_ready_in_time_is_a_failed_start_judged_by_the_policy() -> None:
    rec, actions = run([Start(), Spawned(7), 5.0, StartupElapsed()], PROBED)
    assert rec.state is State.STOPPING
    assert rec.error == "not ready within 5s (tcp 8000)"
    assert actions[-1] == [
        StopProbes(),
        CancelTimer(Timer.STARTUP),
        SignalGroup("TERM"),
        SetTimer(Timer.STOP, 10.0),
    ]
    rec, actions = run([Start(), Spawned(7), 5.0, StartupElapsed(), Exited(None, 15)], PROBED)
    assert rec.state is State.BACKOFF and rec.restarts == 1 and rec.attempt == 1
    assert actions[-1] == [CancelTimer(Timer.STOP), SetTimer(Timer.BACKOFF, 1.0)]


def test_unhealthy_restarts_through_the_policy() -> None:
    events = [Start(), Spawned(7), Ready(), 60.0, Unhealthy("health check failed 3 times")]
    rec, actions = run(events, PROBED)
    assert rec.state is State.STOPPING and rec.failure == "health check failed 3 times"
    assert actions[-1][:2] == [StopProbes(), SignalGroup("TERM")]
    rec, _ = run([*events, Exited(0)], PROBED)  # even a clean exit: it was failing
    assert rec.state is State.BACKOFF and rec.failure is None


def test_over_memory_restarts_through_the_policy_with_its_reason() -> None:
    why = "memory 612 MB over max_memory 500 MB"
    events = [Start(), Spawned(7), StartupElapsed(), OverMemory(why)]
    rec, actions = run(events)
    assert rec.state is State.STOPPING and rec.failure == why and rec.error == why
    assert SignalGroup("TERM") in actions[-1]
    rec, _ = run([*events, Exited(None, 15)])
    assert rec.state is State.BACKOFF and rec.restarts == 1
    starting, _ = run([Start(), OverMemory(why)])  # not running yet: nothing to restart
    assert starting.state is State.STARTING


def test_unhealthy_with_restart_never_ends_exited() -> None:
    spec = replace(PROBED, restart=RestartMode.NEVER)
    rec, _ = run([Start(), Spawned(7), Ready(), Unhealthy("bad"), Exited(None, 15)], spec)
    assert rec.state is State.EXITED and rec.error == "bad"


def test_unhealthy_instances_spend_the_crash_budget() -> None:
    spec = replace(PROBED, max_restarts=2, backoff=Backoff(0.0, 1.0, 0.0))
    cycle = [Spawned(7), Ready(), Unhealthy("bad"), Exited(None, 15)]
    rec, _ = run([Start(), *cycle, *cycle, *cycle], spec)
    assert rec.state is State.CRASHED and rec.restarts == 2


def test_an_operator_stop_during_a_failure_stop_means_stopped() -> None:
    rec, _ = run([Start(), Spawned(7), Ready(), Unhealthy("bad"), Stop(), Exited(None, 15)], PROBED)
    assert rec.state is State.STOPPED


def test_probes_stop_with_the_process() -> None:
    _, stop = run([Start(), Spawned(7), Ready(), Stop()], PROBED)
    assert stop[-1][0] == StopProbes()
    _, exited = run([Start(), Spawned(7), Ready(), Exited(1)], PROBED)
    assert exited[-1][0] == StopProbes()


def test_health_checks_begin_after_min_start_without_a_ready_probe() -> None:
    spec = replace(PROBED, ready=None)
    _, actions = run([Start(), Spawned(7), 1.0, StartupElapsed()], spec)
    assert actions[-1] == [StartProbe(Check.HEALTH)]
    rec, actions = run([Start(), Spawned(7)], replace(spec, min_start=0))
    assert rec.state is State.RUNNING and actions[-1] == [StartProbe(Check.HEALTH)]


def test_ready_and_unhealthy_mean_nothing_in_other_states() -> None:
    rec, actions = run([Start(), Spawned(7), Ready(), Ready()], PROBED)
    assert rec.state is State.RUNNING and actions[-1] == []
    rec, actions = run([Start(), Spawned(7), Unhealthy("early")], PROBED)
    assert rec.state is State.STARTING and actions[-1] == []
