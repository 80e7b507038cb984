"""``cron_restart`` and ``max_age``: replacing an app's processes on a schedule.

PM2's ``cron_restart`` restarts an app at the times of a cron expression;
Circus's ``max_age`` (with ``max_age_variance``) replaces a worker that has
run for too long, so a slow leak or a stale cache never lives for weeks.
Both go through the app's ``reload`` (``reload.py``: rolling or surge), not
a plain restart: an app with two instances keeps serving throughout.

The rules, decided in 0041:

- One recycle of an app at a time: a cron restart and a ``max_age``
  replacement take the app's lock in turn, and ``max_age`` replaces one
  instance, waits until its replacement runs, then looks again.
- An instance's age limit is ``max_age`` plus a random share of
  ``max_age_jitter`` (default a tenth of ``max_age``), drawn once per
  process, so instances started together are not all replaced at once. It is
  never replaced *before* ``max_age``.
- Cron times are wall-clock times of the daemon's time zone (``cronexpr.py``
  for DST); timers run on the supervisor's ``Timers``, so a test steps a
  fake clock and passes a ``wall`` made from it. The timers' clock is
  monotonic (it stands still while the machine sleeps), so a cron timer
  wakes at least every ``LOOK_AGAIN`` seconds to read the wall clock again,
  and one that finds itself early (the wall clock was set back) waits on.
- Loaded only for an app with one of the keys (``Supervisor.recycler``): an
  idle daemon never imports this module nor ``cronexpr``.

Each replacement is an event with the reason, ``web:0 running -> reloading
(max_age 24h)`` or ``(cron_restart 0 3 * * *)``, then the reload's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from procward.kit._durations import format_duration
from procward.kit._errors import Conflict, Timeout
from procward.supervision import reload
from procward.supervision.cronexpr import CronExpr, next_after, parse_cron
from procward.supervision.machine import State

if TYPE_CHECKING:
    from procward.supervision.app import App
    from procward.supervision.events import EventLog
    from procward.supervision.host import Cancellable, Timers

__all__ = ["Recycler", "RecyclingSupervisor", "local_zone"]

log = logging.getLogger("procward.supervision")

RETRY = 60.0  # seconds before a failed max_age replacement is tried again (at least)
LATE = 1.0  # seconds a cron timer may fire early before it waits again (clock set back)
# A cron timer wakes at least this often (seconds) to read the wall clock again: the
# timers' clock is monotonic, and stands still while the machine sleeps.
LOOK_AGAIN = 300.0


class RecyclingSupervisor(reload.Operations, Protocol):
    apps: dict[str, App]
    events: EventLog
    loop: asyncio.AbstractEventLoop


class Recycler:
    """The cron and ``max_age`` timers of every app that has them."""

    def __init__(
        self,
        sup: RecyclingSupervisor,
        timers: Timers,
        *,
        wall: Callable[[], float] = time.time,
        zone: tzinfo | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sup = sup
        self.timers = timers
        self.wall = wall
        self.zone = zone if zone is not None else local_zone()
        self.rng = rng if rng is not None else random.Random()
        self._cron: dict[str, tuple[Cancellable, float, str]] = {}  # app -> timer, due, text
        self._age: dict[str, Cancellable] = {}
        self._limits: dict[tuple[str, int, float], float] = {}  # (app, index, started) -> age
        self._aging: set[str] = set()  # apps with a max_age replacement under way
        self._locks: dict[str, asyncio.Lock] = {}
        self._moved: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the supervisor tells ------------------------------------------------------

    def sync(self, app: App) -> None:
        """Arm or disarm ``app``'s timers as its spec and ``desired`` say now."""
        self._sync_cron(app)
        self._sync_age(app)

    def moved(self, name: str) -> None:
        """An instance of ``name`` changed state: its ages are looked at once this pass."""
        if not self._moved:
            self.timers.call_soon(self._look_at_moved)
        self._moved.add(name)

    def stop(self, name: str) -> None:
        """``name`` stopped (or is gone): no timer of it runs."""
        cron = self._cron.pop(name, None)
        if cron is not None:
            cron[0].cancel()
        age = self._age.pop(name, None)
        if age is not None:
            age.cancel()
        self._limits = {k: v for k, v in self._limits.items() if k[0] != name}
        lock = self._locks.get(name)
        if name not in self.sup.apps and lock is not None and not lock.locked():
            del self._locks[name]  # a deleted app's: the table holds live apps only

    def close(self) -> None:
        for name in [*self._cron, *self._age]:
            self.stop(name)
        for task in self._tasks:
            task.cancel()

    # -- views --------------------------------------------------------------------------

    def view(self, app: App) -> dict[str, Any]:
        """When ``app`` is next recycled: the cron time, each instance's age limit (wall time)."""
        spec = app.spec
        cron = self._cron.get(app.name)
        offset = self.wall() - self.timers.now()
        ages = self._deadlines(app) if spec.max_age is not None else {}
        return {
            "cron_restart": spec.cron_restart,
            "next_cron_restart": cron[1] if cron is not None else None,
            "max_age": spec.max_age,
            "max_age_jitter": _jitter(spec.max_age, spec.max_age_jitter),
            "replace_at": {str(i): due + offset for i, due in sorted(ages.items())},
        }

    # -- cron_restart ---------------------------------------------------------------------

    def _sync_cron(self, app: App) -> None:
        text = app.spec.cron_restart
        armed = self._cron.get(app.name)
        if armed is not None and app.desired and armed[2] == text:
            return
        if armed is not None:
            armed[0].cancel()
            del self._cron[app.name]
        if app.desired and text is not None:
            self._arm_cron(app.name, text, self.wall())

    def _arm_cron(self, name: str, text: str, after: float) -> None:
        due = self.next_cron(parse_cron(text), after)
        self._wait_cron(name, text, due)

    def _wait_cron(self, name: str, text: str, due: float) -> None:
        delay = min(max(0.0, due - self.wall()), LOOK_AGAIN)
        timer = self.timers.call_later(delay, self._cron_due, name, text, due)
        self._cron[name] = (timer, due, text)

    def next_cron(self, cron: CronExpr, after: float) -> float:
        """The first time ``cron`` runs after ``after`` (both seconds since the epoch)."""
        return next_after(cron, datetime.fromtimestamp(after, self.zone), self.zone).timestamp()

    def _cron_due(self, name: str, text: str, due: float) -> None:
        if due - self.wall() > LATE:  # not yet (a long wait, or the wall clock went back)
            self._wait_cron(name, text, due)
            return
        self._cron.pop(name, None)
        app = self.sup.apps.get(name)
        if app is None or not app.desired or app.spec.cron_restart != text:
            return
        self._arm_cron(name, text, max(due, self.wall()))  # the next one, never this again
        self._run(self._reload_all(app, f"cron_restart {text}"))

    async def _reload_all(self, app: App, why: str) -> None:
        async with self.lock(app.name):
            if not app.desired:
                return
            self._note(app, range(len(app.instances)), why)
            try:
                await reload.reload_app(self.sup, app, len(app.instances))
            except (Conflict, Timeout) as exc:
                log.warning("%s: %s: %s", app.name, why, exc)  # reload_app noted it

    # -- max_age --------------------------------------------------------------------------

    def _look_at_moved(self) -> None:
        moved, self._moved = self._moved, set()
        for name in moved:
            app = self.sup.apps.get(name)
            if app is not None:
                self._sync_age(app)

    def _sync_age(self, app: App) -> None:
        if app.name in self._aging:
            return  # looked at again once it is done
        timer = self._age.pop(app.name, None)
        if timer is not None:
            timer.cancel()
        if not app.desired or app.spec.max_age is None:
            return
        deadlines = self._deadlines(app)
        if deadlines:
            delay = max(0.0, min(deadlines.values()) - self.timers.now())
            self._age[app.name] = self.timers.call_later(delay, self._age_due, app.name)

    def _deadlines(self, app: App) -> dict[int, float]:
        """``{index: when}`` (``timers`` clock) each running instance reaches its age limit."""
        spec = app.spec
        if spec.max_age is None:
            return {}
        jitter = _jitter(spec.max_age, spec.max_age_jitter) or 0.0
        found: dict[int, float] = {}
        kept: dict[tuple[str, int, float], float] = {}
        for inst in app.instances:
            started = inst.record.started_at
            if inst.state is not State.RUNNING or started is None:
                continue
            key = (app.name, inst.index, started)
            limit = self._limits.get(key)
            if limit is None:
                limit = spec.max_age + self.rng.uniform(0.0, jitter)
            kept[key] = limit
            found[inst.index] = started + limit
        others = {k: v for k, v in self._limits.items() if k[0] != app.name}
        self._limits = others | kept
        return found

    def _age_due(self, name: str) -> None:
        self._age.pop(name, None)
        app = self.sup.apps.get(name)
        if app is None or not app.desired:
            return
        overdue = self._overdue(app)
        if overdue is None:
            self._sync_age(app)
            return
        self._aging.add(name)
        self._run(self._replace_old(app, overdue))

    def _overdue(self, app: App) -> int | None:
        """The instance most past its age limit, if any is."""
        now = self.timers.now()
        late = sorted((due, index) for index, due in self._deadlines(app).items() if due <= now)
        return late[0][1] if late else None

    async def _replace_old(self, app: App, index: int) -> None:
        spec = app.spec
        why = f"max_age {format_duration(spec.max_age or 0.0)}"
        try:
            async with self.lock(app.name):
                if app.desired and self._overdue(app) == index:  # not replaced meanwhile
                    await self._replace(app, index, why)
        finally:
            self._aging.discard(app.name)
            if self.sup.apps.get(app.name) is app:
                self._sync_age(app)

    async def _replace(self, app: App, index: int, why: str) -> None:
        inst = app.instances[index]
        key = (app.name, index, inst.record.started_at or 0.0)
        self._note(app, [index], why)
        try:
            await reload.replace_instance(self.sup, app, index)
        except (Conflict, Timeout) as exc:
            app.note_error(f"{why}: {exc}")
            if key in self._limits and app.spec.max_age is not None:
                # Still the old process (a surge whose new one failed): again later, not now.
                self._limits[key] += max(RETRY, app.spec.max_age / 10)

    # -- shared ---------------------------------------------------------------------------

    def _note(self, app: App, indexes: Iterable[int], why: str) -> None:
        for index in indexes:
            inst = app.instances[index]
            log.info("%s: %s; replacing it by %s reload", inst.label, why, app.spec.reload)
            self.sup.events.add(
                app.name, index, inst.state.value, "reloading", inst.record.pid, why
            )

    def lock(self, name: str) -> asyncio.Lock:
        """Held while ``name`` is recycled; an operator's reload takes it too."""
        return self._locks.setdefault(name, asyncio.Lock())

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.sup.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recycling failed", exc_info=task.exception())


def _jitter(max_age: float | None, jitter: float | None) -> float | None:
    """The jitter of ``max_age``: as set, else a tenth of it."""
    if max_age is None:
        return None
    return jitter if jitter is not None else max_age / 10


def local_zone() -> tzinfo:
    """The daemon's time zone, with its DST rules: ``$TZ``, else ``/etc/localtime``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ", "").removeprefix(":")
    try:
        if name:
            return ZoneInfo(name)
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError):
        zone = datetime.now().astimezone().tzinfo  # a fixed offset: no DST rules known
        assert zone is not None
        return zone
