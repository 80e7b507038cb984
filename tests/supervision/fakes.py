"""A fake clock with its timers and a fake spawner: instances driven in-process.

``FakeTimers`` is the ``Timers`` of ``host.py`` on a clock that moves only
when the test says (``advance``), as trio's ``MockClock``. ``FakeSpawner``
starts nothing: it hands out pids no real process can have (above Linux's
highest, 2**22) and records signals; the test tells when a process exits
(``exit_status``), through the supervisor's reaper or the instance itself.
``FakeHost`` is the rest of a ``Host`` for an ``App`` without a supervisor
(with a loop if given one: for probe checks against real sockets).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import signal
from collections.abc import Callable, Collection, Mapping
from typing import Any

from procward.kit._procinfo import ProcessIdentity
from procward.supervision.escapees import ProcessTable
from procward.supervision.metrics import Reading
from procward.supervision.pacing import Paced, Ticket
from procward.supervision.process import Child
from procward.supervision.secretrefs import Resolved, SecretSource, SecretsUnavailable
from procward.supervision.spec import AppSpec, Launch

FIRST_PID = 10_000_000  # above pid_max's ceiling (4194304): never a real process


class FakeTimer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTimers:
    """Timers on a clock that moves by ``advance`` only."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(self._now + max(delay, 0.0), callback, args)
        heapq.heappush(self._heap, (timer.when, next(self._order), timer))
        return timer

    def call_soon(self, callback: Callable[..., object], *args: Any) -> FakeTimer:
        return self.call_later(0.0, callback, *args)

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock by ``seconds``, running every timer due on the way, in order."""
        until = self._now + seconds
        while self._heap and self._heap[0][0] <= until:
            when, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not timer.cancelled:
                timer.callback(*timer.args)
        self._now = until

    def pending(self) -> list[float]:
        """Delays from now of the timers still armed, soonest first."""
        return sorted(t.when - self._now for _, _, t in self._heap if not t.cancelled)


def exit_status(code: int | None = None, sig: int | None = None) -> int:
    """A ``waitpid`` status: exited with ``code``, or killed by ``sig``."""
    return sig if sig is not None else (code or 0) << 8


class FakeSpawner:
    """Hands out fake pids; each leads its own group until the test ends it."""

    def __init__(self) -> None:
        self._pids = itertools.count(FIRST_PID)
        self.spawned: list[tuple[int, Launch]] = []
        self.alive: set[int] = set()
        self.signals: list[tuple[int, int]] = []  # (pgid, signal), in order
        self.fail_next: str | None = None  # the next spawn raises SpawnError(this)

    def spawn(self, plan: Launch, *, merge: bool, cgroup: str | None = None) -> Child:
        from procward.supervision.process import SpawnError

        if self.fail_next is not None:
            why, self.fail_next = self.fail_next, None
            raise SpawnError(why)
        pid = next(self._pids)
        self.spawned.append((pid, plan))
        self.alive.add(pid)
        return Child(ProcessIdentity(pid, 0, ""), {})

    def signal_group(self, pgid: int, sig: int) -> bool:
        if pgid not in self.alive:
            return False
        self.signals.append((pgid, sig))
        return True

    def group_alive(self, pgid: int) -> bool:
        return pgid in self.alive

    def process_table(self) -> ProcessTable:
        return ProcessTable({})

    def end(self, pid: int) -> None:
        """The process (and its group) is gone; its exit is the test's to deliver."""
        self.alive.discard(pid)

    @property
    def pids(self) -> list[int]:
        return [pid for pid, _ in self.spawned]

    def signalled(self, pid: int) -> list[str]:
        return [signal.Signals(sig).name.removeprefix("SIG") for p, sig in self.signals if p == pid]


class FakeHost:
    """A ``Host`` of fakes for an ``App`` and its instances, without a supervisor."""

    def __init__(self, log_dir: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.timers = FakeTimers()
        self._loop = loop  # for probe checks against real sockets; None: no I/O
        self.spawner = FakeSpawner()
        self.log_dir = log_dir
        self.children: dict[int, Callable[[int], None]] = {}
        self.events: list[tuple[str, int, str, str, int | None]] = []
        self.changes = 0
        self._respawns = Paced(self.timers.call_soon, clock=self.timers.now)
        self.secrets: SecretSource | None = None
        self.released: list[str] = []  # credentials directories given back

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise AssertionError("no I/O here: a fake process has no pipes")
        return self._loop

    def escapees(
        self, leader: int | None, pgid: int | None, label: tuple[str, int]
    ) -> list[ProcessIdentity]:
        return []

    def orphans(self, label: tuple[str, int]) -> list[ProcessIdentity]:
        return []

    cgroups = None

    def watch_memory(self) -> None:
        self.memory_watched = True

    def register(self, pid: int, exited: Callable[[int], None]) -> None:
        self.children[pid] = exited

    def linger(self, member: object) -> None:
        raise AssertionError("a fake group never outlives its leader")

    def watch_child(self, pid: int) -> asyncio.Future[int]:
        raise AssertionError("no exec probes here")

    def respawn_soon(self, fn: Callable[[], None]) -> Ticket:
        return self._respawns.add(fn)

    def event(
        self, label: tuple[str, int], before: str, after: str, pid: int | None, why: str | None
    ) -> None:
        self.events.append((label[0], label[1], before, after, pid))

    def changed(self, app: str, moved: bool) -> None:
        self.changes += 1

    def availability_changed(self, app: str, availability: int | None) -> None:
        pass

    def log_opened(self, sink: object) -> None:
        pass

    def launch(
        self,
        spec: AppSpec,
        index: int,
        *,
        notify_socket: str | None = None,
        secret_env: Mapping[str, str] | None = None,
        credentials: str | None = None,
    ) -> Launch:
        env = {"PROCWARD_INDEX": str(index), **(secret_env or {})}
        if credentials is not None:
            env["CREDENTIALS_DIRECTORY"] = credentials
        return Launch(argv=spec.cmd, env=env, cwd=spec.cwd)

    def account(self, spec: AppSpec) -> object:
        return None

    def resolve_secrets(self, spec: AppSpec, label: str) -> Resolved:
        from procward.kit._structs import replace
        from procward.supervision.secretrefs import resolve

        resolved = resolve(spec, self.secrets)
        if spec.secrets_as != "files":
            return resolved
        return replace(resolved, directory=f"/fake/credentials/{label}.{len(self.released)}")

    def release_secrets(self, directory: str) -> None:
        self.released.append(directory)

    def reading(self, pgid: int | None) -> Reading | None:
        return None

    def exit(self, pid: int, code: int | None = None, sig: int | None = None) -> None:
        """Process ``pid`` ended: reap it, as the supervisor's reaper would."""
        self.spawner.end(pid)
        self.children.pop(pid)(exit_status(code, sig))


__all__ = ["FakeHost", "FakeSpawner", "FakeTimers", "exit_status"]


class FakeSecrets:
    """A ``SecretSource`` of values in a dict; ``broken`` plays a store that cannot be read."""

    def __init__(self, values: Mapping[str, bytes] | None = None) -> None:
        self.store = dict(values or {})
        self.broken: str | None = None
        self.asked: list[tuple[str, ...]] = []  # each values() call, the names asked

    def values(self, names: Collection[str]) -> dict[str, bytes]:
        self.asked.append(tuple(names))
        if self.broken is not None:
            raise SecretsUnavailable(self.broken)
        missing = [n for n in names if n not in self.store]
        if missing:
            raise SecretsUnavailable(f"no secret named {', '.join(map(repr, missing))}")
        return {n: self.store[n] for n in names}

    def names(self) -> frozenset[str] | None:
        return None if self.broken is not None else frozenset(self.store)
