"""What an instance needs from the world around it: the narrow seam under the supervisor.

An ``Instance`` (and its ``App`` and ``Prober``) talks to a ``Host``, never to
the whole ``Supervisor``: timers from one clock, spawn and signal, the child
registry (whose exit goes to whom), respawn-soon, and the few services an
instance borrows (its launch plan, its last reading, an exec probe's exit).
The ``Supervisor`` provides the real one; tests pass a fake clock and a fake
spawner (``tests/supervision/fakes.py``) and drive instances in-process, with
no process and no waiting.

Why a ``Timers`` of its own rather than ``loop.call_later``: the loop's timers
run on the loop's clock, so a test could not step them. The real ``Timers``
*is* the loop's (same cost, same order); only ``now()`` comes from the clock
the supervisor was given, as before.

This module names no ``Instance`` or ``App``: what it passes back and forth is
pids, labels and callbacks, so that nothing here imports the modules that use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from procward.kit._procinfo import ProcessIdentity
    from procward.supervision.accounts import Account
    from procward.supervision.cgroups import Cgroups
    from procward.supervision.escapees import ProcessTable
    from procward.supervision.logs import LogSink
    from procward.supervision.metrics import Reading
    from procward.supervision.pacing import Ticket
    from procward.supervision.process import Child
    from procward.supervision.secretrefs import Resolved
    from procward.supervision.spec import AppSpec, Launch

__all__ = ["Cancellable", "Host", "Label", "Lingering", "LoopTimers", "Spawner", "Timers"]

Label = tuple[str, int]  # (app name, instance index): whose a process is


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """One clock and the timers that run on it."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Cancellable:
        """Run ``callback(*args)`` once ``delay`` seconds of ``now()`` have passed."""
        ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Cancellable:
        """Run ``callback(*args)`` on the next pass of the loop, after what is due now."""
        ...


class LoopTimers:
    """The real ``Timers``: the loop's timers; ``now()`` from the supervisor's clock."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.loop = loop
        self.now = clock
        self.call_later = loop.call_later
        self.call_soon = loop.call_soon


class Spawner(Protocol):
    """Processes: start, signal, look. The real one is ``process.OsSpawner``."""

    def spawn(self, plan: Launch, *, merge: bool, cgroup: str | None = None) -> Child:
        """Start ``plan``; in ``cgroup`` (a directory) before it runs, if given."""
        ...

    def signal_group(self, pgid: int, sig: int) -> bool: ...

    def group_alive(self, pgid: int) -> bool: ...

    def process_table(self) -> ProcessTable:
        """Every live process now (``/proc``), to find what left its group."""
        ...


class Lingering(Protocol):
    """An instance whose leader exited while the rest of its group lives on."""

    def anything_left(self) -> bool: ...

    def group_emptied(self) -> None: ...


class Host(Protocol):
    """What an ``Instance``, its ``App`` and its ``Prober`` use of the world."""

    @property
    def timers(self) -> Timers: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """For I/O only: pipes, notify sockets, probe tasks (never for timers)."""
        ...

    @property
    def log_dir(self) -> str: ...

    # -- spawn and signal -----------------------------------------------------------

    @property
    def spawner(self) -> Spawner: ...

    def escapees(self, leader: int | None, pgid: int | None, label: Label) -> list[ProcessIdentity]:
        """What ``label`` started outside its group (``pgid``), alive now."""
        ...

    def orphans(self, label: Label) -> list[ProcessIdentity]:
        """What ``label`` left behind that was handed to the daemon, and its descendants."""
        ...

    @property
    def cgroups(self) -> Cgroups | None:
        """The daemon's cgroup subtree, where it uses cgroups (decision 0039)."""
        ...

    def watch_memory(self) -> None:
        """An instance of an app with ``max_memory`` runs: have its memory checked."""
        ...

    # -- the child registry -----------------------------------------------------------

    def register(self, pid: int, exited: Callable[[int], None]) -> None:
        """``exited(status)`` when child ``pid`` is reaped."""
        ...

    def linger(self, member: Lingering) -> None:
        """Tell ``member.group_emptied()`` once ``member.anything_left()`` is False."""
        ...

    def watch_child(self, pid: int) -> asyncio.Future[int]: ...

    # -- notifications and services ---------------------------------------------------

    def respawn_soon(self, fn: Callable[[], None]) -> Ticket: ...

    def event(
        self, label: Label, before: str, after: str, pid: int | None, why: str | None
    ) -> None:
        """An instance went from ``before`` to ``after`` (for the event history)."""
        ...

    def changed(self, app: str, moved: bool) -> None:
        """Something of ``app`` changed (``moved``: an instance changed state)."""
        ...

    def availability_changed(self, app: str, availability: int | None) -> None: ...

    def log_opened(self, sink: LogSink) -> None:
        """An instance opened ``sink`` (its first spawn): the console mirror attaches here."""
        ...

    def launch(
        self,
        spec: AppSpec,
        index: int,
        *,
        notify_socket: str | None = None,
        secret_env: Mapping[str, str] | None = None,
        credentials: str | None = None,
    ) -> Launch:
        """Instance ``index`` of ``spec``: its secrets shown as ``<secret:NAME>`` unless given."""
        ...

    def account(self, spec: AppSpec) -> Account | None:
        """The user ``spec`` runs as, now (``ConfigError`` if gone); None without ``user``."""
        ...

    def resolve_secrets(self, spec: AppSpec, label: str) -> Resolved:
        """The values of ``spec``'s secrets for one spawn (``ConfigError`` if not)."""
        ...

    def release_secrets(self, directory: str) -> None:
        """The credentials directory of a process that has ended."""
        ...

    def reading(self, pgid: int | None) -> Reading | None: ...
