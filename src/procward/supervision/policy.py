"""Restart policy: whether to restart after an exit, after how long, and when to give up.

Pure arithmetic on plain values and ``now``; the state machine asks, the shell
never decides. The numbers follow the Omnitron seed: the n-th consecutive
failure waits ``initial * multiplier**(n-1)`` capped at ``max`` (1, 2, 4, 8,
16, 30, 30 s by default), a run that lasted ``min_uptime`` forgives the
earlier failures, and ``max_restarts`` restarts within ``restart_window``
spend the budget: the next failure is final (``crashed``).
"""

from __future__ import annotations

from bisect import bisect_right

from procward.kit._structs import Struct
from procward.supervision.spec import AppSpec, Backoff, RestartMode


def backoff_delay(backoff: Backoff, attempt: int) -> float:
    """Delay before the ``attempt``-th consecutive restart (1-based)."""
    if attempt < 1:
        return 0.0
    delay = backoff.initial
    for _ in range(attempt - 1):
        delay *= backoff.multiplier
        if delay >= backoff.max:
            return backoff.max
    return min(delay, backoff.max)


def wants_restart(mode: RestartMode, clean_exit: bool) -> bool:
    if mode is RestartMode.ALWAYS:
        return True
    if mode is RestartMode.NEVER:
        return False
    return not clean_exit


class Budget(Struct):
    """Restart times still inside the window, oldest first.

    At most ``max_restarts`` of them are kept: whether the budget is spent
    depends on the newest ``max_restarts`` alone. A crash storm of an app with
    a large budget holds at most the window's worth (and each restart cuts
    the expired ones off with one bisection, not one pass over all of them).
    """

    recent: tuple[float, ...] = ()

    def within(self, window: float, now: float) -> Budget:
        return Budget(self.recent[self._cut(window, now) :])

    def spent(self, max_restarts: int, window: float, now: float) -> bool:
        return len(self.recent) - self._cut(window, now) >= max_restarts

    def _cut(self, window: float, now: float) -> int:
        """The first time still inside the window (``now - t < window``, exactly)."""
        recent = self.recent
        cut = bisect_right(recent, now - window)
        # ``t > now - window`` and ``now - t < window`` may differ by a rounding.
        while cut > 0 and now - recent[cut - 1] < window:
            cut -= 1
        while cut < len(recent) and not now - recent[cut] < window:
            cut += 1
        return cut

    def spend(self, window: float, now: float, max_restarts: int | None = None) -> Budget:
        kept = self.within(window, now).recent
        if max_restarts is not None and len(kept) >= max_restarts:
            kept = kept[len(kept) - max(max_restarts - 1, 0) :]
        return Budget((*kept, now))


class Verdict(Struct):
    """What to do after an unplanned exit."""

    restart: bool
    delay: float = 0.0
    crashed: bool = False  # the budget is spent: stop trying
    attempt: int = 0  # consecutive failures, this one included
    budget: Budget = Budget()


def after_exit(
    spec: AppSpec, *, clean: bool, ran_for: float, attempt: int, budget: Budget, now: float
) -> Verdict:
    """Decide about an exit of an instance that was meant to keep running.

    ``attempt`` is the number of consecutive failures before this exit; a run
    of at least ``min_uptime`` resets it, so a service that crashes once a
    day restarts at once every time.
    """
    if not wants_restart(spec.restart, clean):
        return Verdict(restart=False, budget=budget)
    if ran_for >= spec.min_uptime:
        attempt = 0
    if budget.spent(spec.max_restarts, spec.restart_window, now):
        return Verdict(restart=False, crashed=True, attempt=attempt, budget=budget)
    attempt += 1
    return Verdict(
        restart=True,
        delay=backoff_delay(spec.backoff, attempt),
        attempt=attempt,
        budget=budget.spend(spec.restart_window, now, spec.max_restarts),
    )
