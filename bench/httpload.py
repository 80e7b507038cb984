"""A bounded HTTP load: a few clients, each a loop of GETs, and their tally.

Each client is a thread that sends ``GET /`` to ``127.0.0.1:<port>`` on a
new connection every time (``Connection: close``), waits for the whole
answer, pauses a little and goes again, until told to stop. A new
connection per request is the point: a reload is judged by whether the
connections that arrive while it runs are accepted and answered, and a
kept-alive connection would stay with the process that accepted it first.

Every request is one ``Sample``: when it started, how long it took and how
it ended (``Outcome``). ``tally`` (pure, tested) sums them up. The pause
bounds the load (8 clients, at most ~1,600 requests a second) so that the
run measures the reload, not a saturated machine.
"""

from __future__ import annotations

import enum
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from bench.measure import percentile

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
TIMEOUT = 2.0  # s: the longest one request may take, connect to last byte
PAUSE = 0.005  # s each client waits between two requests


class Outcome(enum.StrEnum):
    OK = "ok"  # 200 and the body "ok"
    REFUSED = "refused"  # nothing listening
    RESET = "reset"  # reset, or closed before a whole answer
    TIMEOUT = "timeout"  # no whole answer within TIMEOUT
    BAD = "bad"  # an answer, but not 200 "ok"


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.monotonic() when the request started
    seconds: float
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Tally:
    total: int
    failures: Mapping[Outcome, int]  # failed requests by how they failed (no OK key)
    p99: float | None  # s, of the requests that succeeded; None without any
    max: float | None

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def failed_percent(self) -> float:
        return 100.0 * self.failed / self.total if self.total else 0.0

    def failures_label(self) -> str:
        """``0``, or the count with its kinds: ``12 (refused 10, reset 2)``."""
        if not self.failed:
            return "0"
        kinds = ", ".join(f"{kind} {n}" for kind, n in self.failures.items())
        return f"{self.failed} ({kinds})"


def tally(samples: Sequence[Sample]) -> Tally:
    """Requests in all, failures by kind (in ``Outcome`` order), latency of the good ones."""
    counts = Counter(s.outcome for s in samples)
    failures: dict[Outcome, int] = {
        kind: counts[kind] for kind in Outcome if kind is not Outcome.OK and counts[kind]
    }
    good = [s.seconds for s in samples if s.outcome is Outcome.OK]
    return Tally(
        total=len(samples),
        failures=failures,
        p99=percentile(good, 99) if good else None,
        max=max(good) if good else None,
    )


def get(port: int) -> Outcome:
    """One ``GET /`` on a new connection, how it ended."""
    deadline = time.monotonic() + TIMEOUT
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(REQUEST)
            answer = b""
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except ConnectionRefusedError:
        return Outcome.REFUSED
    except TimeoutError:
        return Outcome.TIMEOUT
    except OSError:  # reset, broken pipe
        return Outcome.RESET
    if not answer:
        return Outcome.RESET
    head, _, body = answer.partition(b"\r\n\r\n")
    ok = head.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")) and body == b"ok"
    return Outcome.OK if ok else Outcome.BAD


class Load:
    """``clients`` threads sending GETs to ``port`` from ``start()`` until ``stop()``.

    Used as a context manager, the threads are stopped however the block
    ends; ``stop()`` returns every sample, in no particular order.
    """

    def __init__(self, port: int, clients: int) -> None:
        self.port = port
        self._stopping = threading.Event()
        self._samples: list[list[Sample]] = [[] for _ in range(clients)]
        self._threads = [
            threading.Thread(target=self._client, args=(mine,), daemon=True)
            for mine in self._samples
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> list[Sample]:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()
        return [s for mine in self._samples for s in mine]

    def _client(self, mine: list[Sample]) -> None:
        clock = time.monotonic
        while not self._stopping.is_set():
            t0 = clock()
            outcome = get(self.port)
            mine.append(Sample(t0, clock() - t0, outcome))
            self._stopping.wait(PAUSE)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
