"""One hook's deliveries waiting to go: a bounded queue, and when to try again.

A dead endpoint must never stall the daemon nor grow it: each hook has an
``Outbox`` of at most ``QUEUE_SIZE`` deliveries, and when it is full the
*oldest* is dropped and counted (the newest says most about now: the app
crash-looping at this minute, not the one an hour ago). At most
``IN_FLIGHT`` deliveries of a hook are under way at once; a failed one is
tried again after ``retry_delay`` (exponential, with jitter so that hooks
that failed together do not all come back together, and capped).

Pure: the runner (``hooksrunner.py``) takes from the box, says how each
delivery ended, and sleeps as told. Tests drive it with plain values.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["IN_FLIGHT", "QUEUE_SIZE", "Outbox", "retry_delay", "worth_retrying"]

QUEUE_SIZE = 100
IN_FLIGHT = 4
FIRST_RETRY = 1.0  # seconds before the first retry; doubled for each next one
LONGEST_WAIT = 60.0


def retry_delay(retry: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before retry ``retry`` (1, 2, ...): ``FIRST_RETRY * 2**(retry-1)``, capped,
    of which a random half ("equal jitter": never less than half, never more)."""
    full = min(LONGEST_WAIT, FIRST_RETRY * 2.0 ** (retry - 1))
    return full / 2 + rand() * full / 2


def worth_retrying(status: int) -> bool:
    """Whether an HTTP answer may change if asked again: 5xx, 408 and 429, not other 4xx."""
    return status >= 500 or status in (408, 429)


class Outbox:
    """The deliveries of one hook: queued, under way, and what became of them."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self.queue: deque[Any] = deque()
        self.size = size
        self.in_flight = 0
        self.delivered = 0
        self.failed = 0  # given up on, after its retries
        self.dropped = 0  # pushed out of a full queue, never tried
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_delivered_at: float | None = None

    def put(self, item: object) -> bool:
        """Queue ``item``; False when that pushed the oldest one out."""
        full = len(self.queue) >= self.size
        if full:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(item)
        return not full

    def take(self) -> Any:
        """The next delivery to make, counted as under way; None: none, or enough under way."""
        if not self.queue or self.in_flight >= IN_FLIGHT:
            return None
        self.in_flight += 1
        return self.queue.popleft()

    def done(self, now: float, error: str | None) -> None:
        """A delivery taken ended: made (``error`` None), or given up on."""
        self.in_flight -= 1
        if error is None:
            self.delivered += 1
            self.last_delivered_at = now
        else:
            self.failed += 1
            self.last_error, self.last_error_at = error, now

    @property
    def idle(self) -> bool:
        return not self.queue and self.in_flight == 0

    def view(self) -> dict[str, Any]:
        return {
            "queued": len(self.queue),
            "in_flight": self.in_flight,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_delivered_at": self.last_delivered_at,
        }
