"""Watch mode's shell: a thread per watched app waits on the file system; the loop acts.

Why a thread per app and ``watchfiles.watch`` rather than ``awatch``: ``awatch``
waits in anyio's worker threads, which are capped at 40 by anyio's default
limiter, so a forty-first watched app would silently never see a change. A
thread of our own per watched app has no such cap, is started only for apps
that have ``watch`` and are started, and keeps the loop free: the thread
sleeps in Rust (``watchfiles``' notify backend, inotify on Linux) with the GIL
released, and hands each batch of changes to the loop with
``call_soon_threadsafe``. ``watchfiles`` itself is imported in that thread, on
the first watched app, so a daemon without watched apps never loads it.

The threads are not daemon threads: one still inside Rust when the
interpreter finalises would be torn down mid-call. Every path that stops an
app stops its watcher, and ``Watching.close`` stops them all; each notices
within ``STEP_MS``.

Debouncing happens in the loop: every batch restarts a ``delay`` timer, and
only when it fires is the app reloaded, once, however many files changed.
Changes arriving during that reload schedule one more after it, never a
second reload alongside it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from procward.kit._errors import InvalidParams, KitError
from procward.kit._structs import Struct, field
from procward.supervision.watchrules import Watch

if TYPE_CHECKING:
    from procward.supervision.app import App
    from procward.supervision.host import Cancellable, Timers

log = logging.getLogger("procward.supervision")

__all__ = ["STEP_MS", "AppWatcher", "Watching"]

STEP_MS = 50  # how often a watcher thread looks at its stop event; the stop latency


class AppWatcher:
    """One app's paths, watched in a thread; changes go to ``on_change`` in the loop."""

    def __init__(
        self,
        watch: Watch,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[list[str]], None],
        on_failure: Callable[[str], None],
        on_ready: Callable[[None], None] = lambda _: None,
    ) -> None:
        self.watch = watch
        self._loop = loop
        self._on_change = on_change
        self._on_failure = on_failure
        self._stop = _StopEvent(lambda: self._post(on_ready, None))
        self._thread = threading.Thread(target=self._run, name="procward-watch")
        self.ready = False  # set in the loop once no change can be missed
        self.settled: asyncio.Future[None] = loop.create_future()  # ready, failed or stopped

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (within ``STEP_MS``); nothing it posts later is delivered."""
        self._stop.set()

    def _run(self) -> None:
        try:
            import watchfiles

            # Our log line names the file; theirs would only count changes.
            logging.getLogger("watchfiles").setLevel(logging.WARNING)
            for changes in watchfiles.watch(
                *self.watch.paths,
                watch_filter=lambda _change, path: not self.watch.ignores(path),
                debounce=max(STEP_MS, round(self.watch.delay * 1000)),
                step=STEP_MS,
                stop_event=self._stop,
                raise_interrupt=False,
            ):
                self._post(self._on_change, sorted(path for _change, path in changes))
        except Exception as exc:  # a path that vanished, inotify limits, a missing library
            self._post(self._on_failure, f"{type(exc).__name__}: {exc}")

    def _post(self, callback: Callable[[Any], None], arg: object) -> None:
        def deliver() -> None:
            if not threading.Event.is_set(self._stop):  # not the readiness hook
                callback(arg)

        try:
            self._loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the loop is closed: the daemon is gone
            self._stop.set()


class _StopEvent(threading.Event):
    """The stop event, which also tells when the watch is in place.

    ``watchfiles`` asks ``is_set()`` on every turn of its wait, the first time
    right after its Rust watcher registered every path (inotify watches are
    added synchronously): from then on no change is missed, which is what
    ``on_ready`` reports.
    """

    def __init__(self, on_ready: Callable[[], None]) -> None:
        super().__init__()
        self._on_ready: Callable[[], None] | None = on_ready

    def is_set(self) -> bool:
        if self._on_ready is not None:
            on_ready, self._on_ready = self._on_ready, None
            on_ready()
        return super().is_set()


class _Record(Struct, frozen=False):
    """What watch mode did for one app; kept while the app exists, across stops."""

    reloads: int = 0
    last_change: dict[str, Any] | None = None  # {"path", "time"}
    error: str | None = None
    quiet: list[str] = field(default_factory=list)  # changed since the timer last fired
    timer: Cancellable | None = None
    reloading: asyncio.Task[None] | None = None
    again: bool = False  # a change came during the reload: one more after it


class Watching:
    """Which apps are watched (their ``watch`` key and the runtime switch), and the reloads."""

    def __init__(
        self,
        apps: Mapping[str, App],
        find: Callable[[str], App],
        reload: Callable[[Iterable[str]], Awaitable[None]],
        loop: asyncio.AbstractEventLoop,
        timers: Timers,
    ) -> None:
        self.apps = apps  # the supervisor's, as they come and go
        self.find = find  # an app by name, or NotFound
        self.reload = reload
        self.loop = loop  # the threads post to it; reloads run in it
        self.timers = timers
        self.enabled = True  # the runtime switch: enableWatch / disableWatch
        self.only: frozenset[str] | None = None  # None: every app that has a watch key
        self._watchers: dict[str, AppWatcher] = {}
        self._records: dict[str, _Record] = {}

    def wanted(self, app: App) -> bool:
        return (
            self.enabled
            and app.desired
            and app.spec.watch is not None
            and (self.only is None or app.name in self.only)
        )

    def sync(self, app: App) -> None:
        """Watch ``app`` if it should be watched now, with its current ``watch``; else don't."""
        current = self._watchers.get(app.name)
        wanted = self.wanted(app)
        if current is not None and (not wanted or current.watch != app.spec.watch):
            self.stop(app.name)
            current = None
        if wanted and current is None and app.spec.watch is not None:
            self._start(app.name, app.spec.watch)

    def _start(self, name: str, watch: Watch) -> None:
        record = self._records.setdefault(name, _Record())
        record.error = None
        watcher = AppWatcher(
            watch,
            self.loop,
            lambda paths: self._changed(name, paths),
            lambda why: self._failed(name, why, watcher),
            lambda _: self._ready(name, watcher),
        )
        self._watchers[name] = watcher
        watcher.start()

    def stop(self, name: str) -> None:
        """Stop watching ``name``; a reload already under way finishes on its own."""
        watcher = self._watchers.pop(name, None)
        if watcher is not None:
            watcher.stop()
            _settle(watcher)
        record = self._records.get(name)
        if record is not None and record.timer is not None:
            record.timer.cancel()
            record.timer = None
            record.quiet.clear()

    def forget(self, name: str) -> None:
        """The app is deleted: stop watching it and drop what watch mode did for it."""
        self.stop(name)
        self._records.pop(name, None)

    def close(self) -> None:
        """Stop every watcher thread (the daemon is stopping)."""
        for name in list(self._watchers):
            self.stop(name)

    # -- the runtime switch --------------------------------------------------------

    def switch(self, enabled: bool, only: list[str] | None = None) -> None:
        """Watch every app with a ``watch`` key (``only=None``), just ``only``, or none."""
        if only is not None:
            for name in only:
                if self.find(name).spec.watch is None:
                    raise InvalidParams(f"{name} has no watch key in its config: nothing to watch")
        self.enabled = enabled
        self.only = None if only is None else frozenset(only)
        for app in self.apps.values():
            self.sync(app)

    async def wait_watching(self, timeout: float) -> None:
        """Until every watcher started is in place (or failed), at most ``timeout`` seconds.

        So that the answer to ``enableWatch`` says "watching" for what it
        switched on, rather than what the threads had managed by then.
        """
        waiting = [w.settled for w in self._watchers.values() if not w.settled.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)

    def status(self) -> dict[str, Any]:
        apps = []
        for app in self.apps.values():
            if app.spec.watch is None:
                continue
            record = self._records.get(app.name, _Record())
            watching = _is_ready(self._watchers.get(app.name))
            apps.append(
                {
                    "name": app.name,
                    "paths": list(app.spec.watch.paths),
                    "watching": watching,
                    "why_not": None if watching or record.error else self._why_not(app),
                    "restarts_by_watch": record.reloads,
                    "last_change": record.last_change,
                    "error": record.error,
                }
            )
        return {"enabled": self.enabled, "only": _listed(self.only), "apps": apps}

    def _why_not(self, app: App) -> str:
        """Why an app with a ``watch`` key is not watched (when it did not fail)."""
        if not self.enabled:
            return "watch mode is off"
        if self.only is not None and app.name not in self.only:
            return f"not chosen (watch --on {', '.join(sorted(self.only))})"
        if not app.desired:
            return "stopped: watched once it starts"
        return "starting to watch"

    # -- changes, in the loop ------------------------------------------------------

    def _changed(self, name: str, paths: list[str]) -> None:
        watcher = self._watchers.get(name)
        if watcher is None or not paths:
            return
        record = self._records[name]
        record.last_change = {"path": paths[-1], "time": time.time()}
        record.quiet.extend(paths)
        if record.timer is not None:
            record.timer.cancel()
        record.timer = self.timers.call_later(watcher.watch.delay, self._quiet, name)

    def _quiet(self, name: str) -> None:
        """``delay`` passed without a change: reload, or once more after the current reload."""
        record = self._records[name]
        record.timer = None
        changed, record.quiet = record.quiet, []
        if record.reloading is not None and not record.reloading.done():
            record.again = True
            return
        others = len(set(changed)) - 1
        more = f" (and {others} more)" if others > 0 else ""
        log.info("%s: %s changed%s; reloading", name, changed[-1], more)
        record.reloading = self.loop.create_task(self._reload(name, record))

    async def _reload(self, name: str, record: _Record) -> None:
        while True:
            record.again = False
            app = self.apps.get(name)
            if app is None or name not in self._watchers:
                return
            record.reloads += 1
            try:
                await self.reload([name])
            except (KitError, ValueError) as exc:
                app.note_error(f"watch: reload after a change failed: {exc}")
            except Exception:  # a task's error would otherwise surface only at exit
                log.exception("%s: reload after a change failed", name)
            if not record.again:
                return
            log.info("%s: changed again during the reload; reloading", name)

    def _ready(self, name: str, watcher: AppWatcher) -> None:
        if self._watchers.get(name) is watcher:
            watcher.ready = True
            _settle(watcher)
            log.info("%s: watching %s", name, ", ".join(watcher.watch.paths))

    def _failed(self, name: str, why: str, watcher: AppWatcher) -> None:
        _settle(watcher)
        if self._watchers.get(name) is watcher:
            self._watchers.pop(name)
        record = self._records.setdefault(name, _Record())
        record.error = f"cannot watch: {why}"
        app = self.apps.get(name)
        if app is not None:
            app.note_error(record.error)


def _settle(watcher: AppWatcher) -> None:
    if not watcher.settled.done():
        watcher.settled.set_result(None)


def _is_ready(watcher: AppWatcher | None) -> bool:
    return watcher is not None and watcher.ready


def _listed(names: frozenset[str] | None) -> list[str] | None:
    return None if names is None else sorted(names)
