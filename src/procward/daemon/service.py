"""``ProcwardDaemon``: the supervisor and its RPC surface on the kit's ``Daemon``.

Methods follow the seed's table and roles: viewers read, operators start,
stop, restart and scale, admins change which apps exist and stop the daemon.
Unknown names get ``NotFound`` listing the known ones; a bad app definition
gets ``ConfigError`` (-32602) listing every problem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward._version import __version__
from procward.daemon.auditing import AuditMethods
from procward.daemon.configs import ADHOC, ConfigMethods, check_config
from procward.daemon.eventfile import EventFileMethods
from procward.daemon.execute import ExecMethods
from procward.daemon.logs import LogMethods
from procward.daemon.metrics import MetricsMethods
from procward.daemon.network import NetworkSettingsMethods
from procward.daemon.statusfile import StatusFile
from procward.daemon.upgrade import UpgradeMethods, handed_pids
from procward.daemon.uptime import UptimeMethods
from procward.daemon.views import ViewMethods
from procward.daemon.watch import WatchMethods
from procward.kit.daemon import Daemon
from procward.kit.errors import InvalidParams
from procward.kit.rpc import CallContext, Role, method
from procward.supervision import state
from procward.supervision.app import serving
from procward.supervision.config import MAX_INSTANCES, Config, parse_app
from procward.supervision.machine import State
from procward.supervision.process import become_subreaper
from procward.supervision.supervisor import Supervisor

if TYPE_CHECKING:
    from procward.supervision.app import App

log = logging.getLogger("procward.daemon")


class ProcwardDaemon(
    ViewMethods,
    ConfigMethods,
    LogMethods,
    MetricsMethods,
    NetworkSettingsMethods,
    WatchMethods,
    ExecMethods,
    UptimeMethods,
    EventFileMethods,
    UpgradeMethods,
    AuditMethods,
    Daemon,
):
    prefix = "procward"
    version = __version__
    state_flush_interval = 30.0
    start_grace = 5.0  # at most this long restoring apps before serving

    def __init__(self, *args: Any, start_held: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Started deliberately in the foreground (`procward run`: a service
        # manager, a container): apps held down by the last stop start too.
        # A daemon some command started on demand leaves them down until `up`.
        self.start_held = start_held
        self._sup: Supervisor | None = None
        self._store: state.StateStore | None = None
        self._restoring: asyncio.Task[None] | None = None
        self._status: StatusFile | None = None

    @property
    def sup(self) -> Supervisor:
        assert self._sup is not None, "the supervisor starts in on_start"
        return self._sup

    # -- lifecycle ----------------------------------------------------------------

    async def on_start(self) -> None:
        _raise_fd_limit()
        if not become_subreaper():
            log.warning("cannot become child subreaper: orphaned grandchildren go to init")
        os.environ.pop(state.MARKER, None)  # we may have been started by an app
        self._status = StatusFile(
            os.path.join(self.paths.runtime_dir, "status.json"), self._prompt_status
        )
        self._sup = Supervisor(self.paths, on_change=self._changed)
        handed = self.handed_over
        if handed is None:  # else after the handed-over children are adopted
            self._watch_children(self._sup.reaper.reap)
        saved = state.load(self.paths.state)
        self._store = state.StateStore(self.paths.state, self._snapshot)
        self.start_uptime()
        self.start_event_file()
        kept = handed_pids(handed)
        leftovers = [g for g in state.leftovers(saved, self.paths.state_dir) if g.pgid not in kept]
        await state.terminate_leftovers(leftovers, 10.0)
        if handed is not None and saved is None:
            log.error("upgrade: no state.json to adopt the running apps from")
            self._watch_children(self._sup.reaper.reap)
        if saved is not None:
            await self._recover(saved, handed)
            settings = saved.get("settings")
            if isinstance(settings, dict):
                await self.restore_network(settings.get("network"))
        self.scheduler.every(self.state_flush_interval, self._flush_state, name="state-flush")
        self.server.auditor = self.audit_call
        self._status.write()

    def _flush_state(self) -> None:
        if self._store is not None:
            self._store.baseline()

    @staticmethod
    def _watch_children(reap: Callable[[], None]) -> None:
        """Run ``reap`` in the loop whenever a child (or adopted orphan) exits.

        ``signal.signal``, not ``loop.add_signal_handler``: uvloop reserves
        SIGCHLD for subprocesses of its own, which we do not use. The handler
        only schedules the reap, so all logic still runs in the loop.
        """
        loop = asyncio.get_running_loop()
        signal.signal(signal.SIGCHLD, lambda _sig, _frame: loop.call_soon_threadsafe(reap))
        reap()  # anything that exited before the handler was in place

    async def _recover(self, saved: dict[str, Any], handed: dict[str, Any] | None) -> None:
        try:
            self.restore_metrics(saved.get("settings", {}).get("metrics", {}))
        except (AttributeError, TypeError, ValueError) as exc:
            log.error("ignoring unreadable settings in %s: %s", self.paths.state, exc)
        wanted, held = [], []
        for entry in saved.get("apps", []):
            try:
                table = dict(entry["spec"])
                spec = parse_app(str(table.pop("name")), table, base_dir="/")
            except (KeyError, TypeError, ValueError) as exc:
                log.error("skipping an app in %s that no longer parses: %s", self.paths.state, exc)
                continue
            app = self.sup.add(spec, str(entry.get("source", ADHOC)), bool(entry.get("desired")))
            if isinstance(entry.get("max_instances"), int):
                app.max_instances = max(1, entry["max_instances"])
            if app.desired and entry.get("held") and not self.start_held:
                app.hold()
                held.append(spec.name)
            elif app.desired:
                wanted.append(spec.name)
                _restore_instances(app, entry.get("instances"))
        log.info(
            "restored %d apps (%d to run, %d held down by `down`)",
            len(self.sup.apps),
            len(wanted),
            len(held),
        )
        if handed is not None:
            self.adopt_handed_over(handed)
            self._watch_children(self.sup.reaper.reap)  # and reap what exited meanwhile
        if wanted:
            # Serve once they are spawned (so the first `status` shows them
            # starting), but not later than start_grace: slow dependency chains
            # go on in the background.
            task = asyncio.get_running_loop().create_task(self._start_quietly(wanted))
            self._restoring = task
            await asyncio.wait([task], timeout=self.start_grace)

    async def _start_quietly(self, names: list[str]) -> None:
        try:
            await self.sup.start(names, revive=False)
        except Exception:
            log.exception("restarting the saved apps failed")

    async def on_stop(self) -> None:
        if self._sup is None:
            return
        self._sup.stop_watching()
        self.stop_uptime()
        # Stop everything but keep "desired": `down` then `up` restores the same set,
        # and until then they are held down (a daemon started by `status` leaves them).
        await self._sup.stop(list(self._sup.apps), keep_desired=True, force=self.force_stop)
        await self._sup.end_strays()
        for app in self._sup.apps.values():
            app.hold()
        self._sup.close_logs()
        await self.save_uptime()
        await self.save_events()
        if self._store is not None:
            await self._store.close()
        self.close_audit_log()
        if self._status is not None:
            self._status.remove()
        # The loop is about to close: a late SIGCHLD must not schedule into it.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    async def close_state(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def _durable(self) -> None:
        """Save now and wait for it: an operator's change is on disk before we answer,
        so a daemon killed right after still knows what it was told."""
        if self._store is not None:
            await asyncio.wrap_future(self._store.flush())

    def _changed(self) -> None:
        if self._store is not None:
            self._store.mark_dirty()
        if self._status is not None:
            self._status.changed()

    def _prompt_status(self) -> dict[str, Any]:
        """What ``procward prompt`` shows, counted without building snapshots.

        ``running`` counts the instances that serve (running, or starting
        with no ready probe to wait for), out of ``wanted``; every app with an
        instance that does not is named once, by why: ``down`` (not well),
        ``exited`` (finished cleanly) or ``starting`` (not ready yet).
        """
        wanted = [a for a in self.sup.apps.values() if a.wanted]
        running = 0
        named: dict[str, list[str]] = {"down": [], "exited": [], "starting": []}
        for app in wanted:
            probed = app.spec.ready is not None
            idle = [i for i in app.instances if not serving(i, probed)]
            running += len(app.instances) - len(idle)
            if not app.healthy():
                named["down"].append(app.name)
            elif idle:  # well, so each is a clean exit or not ready yet
                done = all(i.state is State.EXITED for i in idle)
                named["exited" if done else "starting"].append(app.name)
        expected = sum(len(a.instances) for a in wanted)
        return {"healthy": not named["down"], "running": running, "wanted": expected, **named}

    def _snapshot(self) -> dict[str, Any]:
        apps = []
        for app in self.sup.apps.values():
            instances = []
            for inst in app.instances:
                info = inst.snapshot()
                info["pgid"] = inst.pgid
                instances.append(info)
            apps.append(
                {
                    "spec": app.table,
                    "source": app.source,
                    "desired": app.desired,
                    "held": app.held,
                    "max_instances": app.max_instances,
                    "instances": instances,
                }
            )
        settings = {"metrics": self.metrics_settings(), "network": self.network_settings()}
        return {"apps": apps, "settings": settings}

    # -- inspection (viewer) --------------------------------------------------------------

    # -- lifecycle of apps (operator) ------------------------------------------------

    def _names(self, name: str) -> list[str]:
        if name == "all":
            return list(self.sup.apps)
        self.sup.app(name)
        return [name]

    @method(Role.OPERATOR)
    async def startApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        await self.sup.start([name])
        await self._durable()
        return self.sup.app(name).summary()

    @method(Role.OPERATOR)
    async def resume(self, ctx: CallContext) -> dict[str, Any]:
        """Start the apps the last stop of the daemon held down (what `procward up` does)."""
        held = [app.name for app in self.sup.apps.values() if app.held]
        if held:
            await self.sup.start(held)
            await self._durable()
        return {"started": held}

    @method(Role.OPERATOR)
    async def startAll(self, ctx: CallContext) -> list[dict[str, Any]]:
        await self.sup.start(list(self.sup.apps))
        await self._durable()
        return self.sup.summaries()

    @method(Role.OPERATOR)
    async def stopApp(
        self, ctx: CallContext, name: str, force: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Stop an app, and first the apps that depend on it (they cannot run without it)."""
        wait = None if timeout is None else _stop_wait(timeout)
        names = self.sup.dependents(self._names(name))
        await self.sup.stop(names, force=force, timeout=wait)
        await self._durable()
        return {"success": True, "stopped": names}

    @method(Role.OPERATOR)
    async def stopAll(self, ctx: CallContext, force: bool = False) -> dict[str, Any]:
        names = list(self.sup.apps)
        await self.sup.stop(names, force=force)
        await self._durable()
        return {"count": len(names)}

    @method(Role.OPERATOR)
    async def restartApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        names = self._names(name)
        await self.sup.restart(names)
        await self._durable()
        return {"apps": [self.sup.app(n).summary() for n in names]}

    @method(Role.OPERATOR)
    async def restartAll(self, ctx: CallContext) -> list[dict[str, Any]]:
        await self.sup.restart(list(self.sup.apps))
        await self._durable()
        return self.sup.summaries()

    @method(Role.OPERATOR)
    async def reloadApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        """Replace each instance with a new process, one at a time, without downtime."""
        names = self._names(name)
        try:
            await self.sup.reload(names)
        finally:
            await self._durable()
        return {"apps": [self.sup.app(n).summary() for n in names]}

    @method(Role.OPERATOR)
    async def scale(self, ctx: CallContext, name: str, instances: int) -> dict[str, Any]:
        if instances < 0:
            raise InvalidParams("instances must be 0 or more")
        await self.sup.scale(name, instances)
        await self._durable()
        return self.sup.app(name).summary()

    def on_reopen_logs(self) -> None:
        if self._sup is not None:
            for sink in self._sup.sinks():
                sink.reopen()

    # -- which apps exist (admin) ----------------------------------------------------

    @method(Role.ADMIN)
    async def addApp(
        self, ctx: CallContext, name: str, spec: dict[str, Any], start: bool = True
    ) -> dict[str, Any]:
        """Add an ad-hoc app (kept across restarts) from a procward.toml-shaped table."""
        cwd = spec.get("cwd")
        base = cwd if isinstance(cwd, str) and os.path.isabs(cwd) else "/"
        parsed = parse_app(name, spec, base_dir=base, max_instances=MAX_INSTANCES)
        if name not in self.sup.apps:  # else the Conflict below says so
            self.sup.check_total(name, parsed.instances)
            check_config(Config({name: parsed}), self.sup)
        app = self.sup.add(parsed, ADHOC, desired=False)
        if start:
            await self.sup.start([app.name])
        await self._durable()
        return app.summary()

    @method(Role.ADMIN)
    async def deleteApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        await self.sup.delete(name)
        await self._durable()
        return {"success": True}


def _restore_instances(app: App, saved: object) -> None:
    """``crashed`` and ``exited`` instances stay so: a crash of the daemon is not a start."""
    if not isinstance(saved, list):
        return
    for entry in saved:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int):
            index = entry["index"]
            if 0 <= index < len(app.instances):
                app.instances[index].restore(entry)


MAX_STOP_WAIT = 86400.0  # a stop's timeout: a day is already a mistake; beyond, timers overflow


def _stop_wait(timeout: float) -> float:
    """``stopApp``'s timeout in seconds, or ``InvalidParams`` saying why it cannot be one."""
    from procward.kit.durations import parse_duration

    try:
        seconds = parse_duration(timeout, what="timeout")
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
    if seconds > MAX_STOP_WAIT:
        raise InvalidParams(f"timeout {timeout:g} is more than {MAX_STOP_WAIT:g} seconds (a day)")
    return seconds


def _raise_fd_limit() -> None:
    """Two pipes and two files per instance: 500 apps need more than the usual 1024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit above %d: %s", soft, exc)
