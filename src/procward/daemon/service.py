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
from typing import Any

from procward._version import __version__
from procward.daemon.auditing import AuditMethods
from procward.daemon.configs import ADHOC, ConfigMethods, check_config
from procward.daemon.eventfile import EventFileMethods
from procward.daemon.execute import ExecMethods
from procward.daemon.logs import LogMethods
from procward.daemon.metrics import MetricsMethods
from procward.daemon.network import NetworkSettingsMethods
from procward.daemon.savedapps import SavedApps
from procward.daemon.statusfile import StatusFile
from procward.daemon.upgrade import UpgradeMethods, handed_pids
from procward.daemon.uptime import UptimeMethods
from procward.daemon.views import ViewMethods
from procward.daemon.watch import WatchMethods
from procward.kit.daemon import Daemon
from procward.kit.errors import Conflict, CorruptFile, InvalidParams, NotSaved
from procward.kit.rpc import CallContext, Role, TokenHints, method
from procward.supervision import state
from procward.supervision.app import serving
from procward.supervision.config import LIMIT_CEILING, MAX_INSTANCES, Config, parse_app
from procward.supervision.machine import State
from procward.supervision.process import become_subreaper
from procward.supervision.supervisor import Supervisor

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
    token_hints = TokenHints(
        "procward token create", "procward token list", "procward token revoke ID"
    )
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
        self._saved_apps: SavedApps | None = None  # state.json's apps, brought back

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
        # First, before any app is touched: a state nobody can trust stops the start here.
        saved = self._load_state()
        self._status = StatusFile(
            os.path.join(self.paths.runtime_dir, "status.json"), self._prompt_status
        )
        self._sup = Supervisor(self.paths, on_change=self._changed)
        handed = self.handed_over
        if handed is None:  # else after the handed-over children are adopted
            self._watch_children(self._sup.reaper.reap)
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
            await self._restore_listeners(saved.get("settings"))
        self.scheduler.every(self.state_flush_interval, self._flush_state, name="state-flush")
        self.server.auditor = self.audit_call
        self._status.write()
        await self._save_or_warn()

    async def _restore_listeners(self, settings: object) -> None:
        """TCP and HTTP as before; the apps run by now, so a failure is a warning, not a stop."""
        if not isinstance(settings, dict):
            return
        try:
            await self.restore_network(settings.get("network"))
        except Exception as exc:
            log.exception("restoring the network listeners failed")
            self.start_warning(f"not listening as before the restart: {exc}")

    def _load_state(self) -> dict[str, Any] | None:
        """``state.json`` (or its ``.bak``); refuse to start when neither can be read.

        Without a state it can trust the daemon cannot tell its apps from
        anything else: ending the processes that carry its marker would end
        apps it may not relaunch, starting with no apps would leave them
        unsupervised and end them at the next start. So it touches nothing,
        and says what an operator can do (decision 0031).
        """
        try:
            return state.load(self.paths.state)
        except CorruptFile as exc:
            if self.handed_over is not None:  # an upgrade: the running apps are our children
                kept = state.set_aside(self.paths.state)
                log.error("%s; set aside as %s", exc, ", ".join(kept))
                return None
            me = {os.getpid(), os.getpgid(0)}
            groups = len(state.marked_groups(self.paths.state_dir, exclude=me))
            raise CorruptFile(
                f"the saved state is unreadable ({exc}). Not starting, and nothing touched: "
                "without a state it can trust, the daemon cannot tell which processes are its "
                f"apps ({groups} process group{'' if groups == 1 else 's'} of the last daemon "
                f"still running). Either put a good copy back as {self.paths.state} and run "
                "any command, or run `procward kill` to end those apps and set the unreadable "
                "files aside (the next start has no apps)"
            ) from None

    async def _save_or_warn(self) -> None:
        """Save once before serving; a disk that refuses is worth a warning, not a refusal.

        The apps are running by now: a daemon that gave up here would leave
        them unsupervised. It serves, and says that changes will not survive it.
        """
        try:
            await self._durable()
        except NotSaved:
            self.start_warning(self._unsaved_warning())

    def _unsaved_warning(self) -> str:
        assert self._store is not None and self._store.problem is not None
        return (
            f"{self._store.problem}: changes to the apps hold only while this daemon runs "
            "(it tries again every 30 s)"
        )

    def daemon_warnings(self) -> list[str]:
        """What ``status`` shows above the apps: trouble an operator must hear of."""
        found = []
        if self._store is not None and self._store.problem is not None:
            found.append(self._unsaved_warning())
        if self._saved_apps is not None:
            found.extend(self._saved_apps.warnings())
        return found

    async def before_upgrade(self) -> dict[str, Any]:
        """No upgrade while the state cannot be saved: the next program restores from it."""
        extra = await super().before_upgrade()  # not busy: then, one save to see
        store = self._store
        if store is not None:
            await asyncio.wrap_future(store.flush())
            if store.problem is not None:
                raise Conflict(f"upgrade refused: {store.problem}; the new program needs it")
        return extra

    async def on_start_failed(self) -> None:
        """End what this start spawned: a daemon that never served leaves no app behind.

        Nothing is saved: ``state.json`` keeps what should run, and the next
        daemon starts it.
        """
        store, self._store = self._store, None
        if store is not None:
            store.abandon()
        if self._restoring is not None:
            self._restoring.cancel()
        sup = self._sup
        if sup is None:
            return
        sup.stop_watching()
        await sup.stop(list(sup.apps), keep_desired=True, force=True)
        await sup.end_strays()
        sup.close_logs()
        if self._status is not None:
            self._status.remove()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)

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
        settings = saved.get("settings")
        total = settings.get("max_total_instances") if isinstance(settings, dict) else None
        if isinstance(total, int) and not isinstance(total, bool):
            self.sup.max_total_instances = min(max(total, 1), LIMIT_CEILING)
        restoring = self._saved_apps = SavedApps(
            self.sup, self.paths.state, start_held=self.start_held, warn=self.start_warning
        )
        wanted, held = restoring.restore(saved.get("apps", []))
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
            task = asyncio.get_running_loop().create_task(restoring.start(wanted))
            self._restoring = task
            await asyncio.wait([task], timeout=self.start_grace)

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
        so a daemon killed right after still knows what it was told.

        When it cannot be saved (a full disk), the answer is ``NotSaved``: the
        change is made, but the operator must know that a crash would undo it.
        """
        store = self._store
        if store is None:
            return
        await asyncio.wrap_future(store.flush())
        if store.problem is not None:
            raise NotSaved(
                f"done, but not saved ({store.problem}): it holds while this daemon runs; "
                "should the daemon die before a save succeeds, the previous state comes back"
            )

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
        if self._saved_apps is not None:  # entries that made no app: kept as they were
            apps.extend(self._saved_apps.entries())
        settings = {
            "metrics": self.metrics_settings(),
            "network": self.network_settings(),
            "max_total_instances": self.sup.max_total_instances,  # a file's, until the next
        }
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
        if self._saved_apps is not None and self._saved_apps.forget(name):
            self._changed()  # an entry of state.json that could not be restored
        else:
            await self.sup.delete(name)
        await self._durable()
        return {"success": True}


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
