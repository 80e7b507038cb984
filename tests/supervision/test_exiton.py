"""``--exit-on``: which state change of an instance ends a foreground daemon, with what status."""

from __future__ import annotations

import pytest

from procward.supervision.exiton import ExitOn, container_exit
from procward.supervision.machine import State

RUNNING, STARTING, STOPPING = State.RUNNING, State.STARTING, State.STOPPING
# How the process ended: (exit code, signal, whether there was a process at all).
CLEAN, FAILED, KILLED, NO_PROCESS = (
    (0, None, True),
    (3, None, True),
    (None, 9, True),
    (None, None, False),
)
How = tuple[int | None, int | None, bool]


def decide(mode: ExitOn, before: State, after: State, how: How) -> int | None:
    code, signal, ran = how
    return container_exit(mode, before, after, code=code, signal=signal, ran=ran)


@pytest.mark.parametrize(
    ("before", "after", "how", "expected"),
    [
        (RUNNING, State.CRASHED, FAILED, 1),  # the budget spent
        (STARTING, State.CRASHED, KILLED, 1),
        (RUNNING, State.EXITED, FAILED, 1),  # restart = "never", and it failed
        (RUNNING, State.EXITED, KILLED, 1),
        (STARTING, State.EXITED, NO_PROCESS, 1),  # its program could not start
        (STOPPING, State.EXITED, CLEAN, 1),  # stopped because unhealthy
        (RUNNING, State.EXITED, CLEAN, None),  # a job done
        (RUNNING, State.BACKOFF, FAILED, None),  # it will be restarted
        (STOPPING, State.STOPPED, CLEAN, None),  # an operator's stop
        (State.STOPPED, STARTING, CLEAN, None),
    ],
)
def test_crashed_ends_it_when_an_instance_gives_up(
    before: State, after: State, how: How, expected: int | None
) -> None:
    assert decide(ExitOn.CRASHED, before, after, how) == expected


@pytest.mark.parametrize(
    ("before", "after", "how", "expected"),
    [
        (RUNNING, State.EXITED, CLEAN, 0),
        (RUNNING, State.BACKOFF, CLEAN, 0),  # restart = "always": an exit all the same
        (RUNNING, State.BACKOFF, FAILED, 1),
        (RUNNING, State.CRASHED, FAILED, 1),
        (STARTING, State.BACKOFF, NO_PROCESS, 1),  # a failed spawn
        (STOPPING, State.BACKOFF, CLEAN, 1),  # stopped because not ready in time
        (STOPPING, State.STOPPED, KILLED, None),  # procward stopped it: not an exit
        (State.BACKOFF, STARTING, CLEAN, None),
        (STARTING, RUNNING, CLEAN, None),
    ],
)
def test_any_exit_ends_it_at_any_exit_of_its_own_with_0_only_when_clean(
    before: State, after: State, how: How, expected: int | None
) -> None:
    assert decide(ExitOn.ANY_EXIT, before, after, how) == expected


@pytest.mark.parametrize("after", list(State))
@pytest.mark.parametrize("before", list(State))
def test_never_never_ends_it(before: State, after: State) -> None:
    for how in (CLEAN, FAILED, KILLED, NO_PROCESS):
        assert decide(ExitOn.NEVER, before, after, how) is None
