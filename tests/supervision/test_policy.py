"""Restart policy arithmetic, without processes."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from procward.supervision.policy import Budget, after_exit, backoff_delay, wants_restart
from procward.supervision.spec import AppSpec, Backoff, RestartMode


def spec(**kw: object) -> AppSpec:
    return AppSpec(name="app", cmd=("true",), **kw)  # type: ignore[arg-type]


def test_default_backoff_sequence() -> None:
    delays = [backoff_delay(Backoff(), n) for n in range(1, 8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30]


@given(
    initial=st.floats(0, 100),
    multiplier=st.floats(1, 10),
    cap=st.floats(0, 1000),
    attempt=st.integers(1, 200),
)
def test_backoff_never_exceeds_max_and_never_shrinks(
    initial: float, multiplier: float, cap: float, attempt: int
) -> None:
    b = Backoff(initial, multiplier, cap)
    assert 0 <= backoff_delay(b, attempt) <= max(cap, 0)
    assert backoff_delay(b, attempt) <= backoff_delay(b, attempt + 1) or backoff_delay(
        b, attempt
    ) == min(initial, cap)


@pytest.mark.parametrize(
    ("mode", "clean", "expected"),
    [
        (RestartMode.ON_FAILURE, True, False),
        (RestartMode.ON_FAILURE, False, True),
        (RestartMode.ALWAYS, True, True),
        (RestartMode.ALWAYS, False, True),
        (RestartMode.NEVER, False, False),
    ],
)
def test_wants_restart(mode: RestartMode, clean: bool, expected: bool) -> None:
    assert wants_restart(mode, clean) is expected


def test_crash_budget_five_in_sixty_seconds() -> None:
    s = spec()
    budget, attempt, now = Budget(), 0, 1000.0
    delays = []
    for _ in range(5):
        verdict = after_exit(s, clean=False, ran_for=0.1, attempt=attempt, budget=budget, now=now)
        assert verdict.restart and not verdict.crashed
        delays.append(verdict.delay)
        budget, attempt = verdict.budget, verdict.attempt
        now += verdict.delay + 0.1
    assert delays == [1, 2, 4, 8, 16]
    final = after_exit(s, clean=False, ran_for=0.1, attempt=attempt, budget=budget, now=now)
    assert final.crashed and not final.restart


def test_restarts_outside_the_window_are_forgotten() -> None:
    s = spec(max_restarts=2, restart_window=10.0)
    budget = Budget((0.0, 1.0))
    assert after_exit(s, clean=False, ran_for=0, attempt=2, budget=budget, now=5.0).crashed
    later = after_exit(s, clean=False, ran_for=0, attempt=2, budget=budget, now=10.5)
    assert later.restart and later.budget.recent == (1.0, 10.5)


def test_a_long_run_resets_the_backoff() -> None:
    s = spec(min_uptime=10.0)
    verdict = after_exit(s, clean=False, ran_for=11.0, attempt=4, budget=Budget(), now=100.0)
    assert verdict.delay == 1.0 and verdict.attempt == 1


def test_zero_max_restarts_crashes_at_the_first_failure() -> None:
    verdict = after_exit(
        spec(max_restarts=0), clean=False, ran_for=0, attempt=0, budget=Budget(), now=1
    )
    assert verdict.crashed


def test_a_clean_exit_with_on_failure_is_not_restarted() -> None:
    verdict = after_exit(spec(), clean=True, ran_for=0.5, attempt=0, budget=Budget(), now=1)
    assert not verdict.restart and not verdict.crashed


@given(
    st.lists(st.floats(0, 5, allow_nan=False), max_size=60),
    st.integers(0, 8),
    st.floats(0.5, 20, allow_nan=False),
)
# A restart exactly at the window's edge, where `t > now - window` and
# `now - t < window` disagree by a rounding (a bisection on the first got it wrong).
@example(gaps=[0.0, 1.658044830371639], max_restarts=1, window=1.658044830371639)
def test_a_capped_budget_decides_as_one_that_kept_every_restart(
    gaps: list[float], max_restarts: int, window: float
) -> None:
    """Keeping only the newest ``max_restarts`` times changes no decision."""
    budget, everything, now = Budget(), [], 100.0
    for gap in gaps:
        now += gap
        in_window = [t for t in everything if now - t < window]
        assert budget.spent(max_restarts, window, now) == (len(in_window) >= max_restarts)
        if len(in_window) < max_restarts:
            budget = budget.spend(window, now, max_restarts)
            everything.append(now)
        assert len(budget.recent) <= max(max_restarts, 1)
