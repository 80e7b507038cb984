"""Work that may come in floods, run a little at each pass of the loop.

A crash storm asks for hundreds of respawns a second. Run all of them in
one pass and that pass takes as long as they do: no call answered, no pipe
read, no timer fired meanwhile. ``Paced`` runs queued work in order until a
time budget is spent (at least one item per pass) and leaves the rest to
the loop's next pass, after everything else that waits has had its turn.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

__all__ = ["BUDGET", "Paced", "Ticket"]

log = logging.getLogger(__name__)

BUDGET = 0.005  # seconds of queued work per pass of the loop


class Ticket:
    """One queued piece of work; ``cancel()`` before it runs and it never does."""

    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Paced:
    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], object],
        clock: Callable[[], float] = time.monotonic,
        budget: float = BUDGET,
    ) -> None:
        self._schedule = schedule
        self._clock = clock
        self.budget = budget
        self._queue: deque[Ticket] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, fn: Callable[[], None]) -> Ticket:
        ticket = Ticket(fn)
        self._queue.append(ticket)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self._run)
        return ticket

    def _run(self) -> None:
        self._scheduled = False
        queue, ends = self._queue, self._clock() + self.budget
        while queue:
            ticket = queue.popleft()
            if ticket.cancelled:
                continue
            try:
                ticket.fn()
            except Exception:
                log.exception("queued work failed")
            if queue and self._clock() >= ends:
                self._scheduled = True
                self._schedule(self._run)
                return
