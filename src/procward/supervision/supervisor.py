"""The supervisor: apps, their instances, and the operations on them.

It owns every ``Instance``, routes child exits from the reaper to them, runs
app-level operations (start in dependency order, stop in reverse, restart,
scale, delete) and tells the state store when something changed. Operations
are coroutines that return once the instances reached the state asked for,
or a deadline passed; they never poll: each state change wakes the waiters
whose condition it satisfies.

``App`` lives in ``app``; reload and redefine, the operations that move a
serving app to new processes or a new definition, in ``reload``. Instances
and apps see the supervisor only as their ``Host`` (``host.py``); its timers
and its spawner may be given (tests pass fakes), else they are the loop's
and the operating system's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from procward.kit import _structs as structs
from procward.kit._errors import Conflict, InvalidParams, NotFound, Timeout
from procward.kit._paths import InstancePaths
from procward.supervision import environment, escapees, graph, process, reload
from procward.supervision.app import RESTARTED, STARTED, STOP_SLACK, App, settled
from procward.supervision.config import MAX_TOTAL_INSTANCES, ConfigError, Problem
from procward.supervision.escapees import ProcessTable, origin
from procward.supervision.events import EventLog
from procward.supervision.host import Label, Lingering, LoopTimers, Spawner, Timers
from procward.supervision.machine import ACTIVE, AT_REST, Start, State, Stop, StopTimeout
from procward.supervision.pacing import Paced, Ticket
from procward.supervision.spec import AppSpec, Launch, launch
from procward.supervision.state import MARKER
from procward.supervision.uptime import UptimeHistory

if TYPE_CHECKING:
    from datetime import tzinfo

    from procward.kit._procinfo import ProcessIdentity
    from procward.supervision.accounts import Account
    from procward.supervision.cgroups import Cgroups
    from procward.supervision.console import Console
    from procward.supervision.credentials import CredentialFiles
    from procward.supervision.hooks import Hook
    from procward.supervision.hooksrunner import HookRunner
    from procward.supervision.instance import Instance
    from procward.supervision.logs import LogSink
    from procward.supervision.memoryguard import MemoryGuard
    from procward.supervision.metrics import Meter, Reading, Usage
    from procward.supervision.recycling import Recycler
    from procward.supervision.secretrefs import Resolved, SecretSource
    from procward.supervision.watching import Watching

log = logging.getLogger("procward.supervision")

SPAWN_BATCH = 100  # apps spawned per loop pass when starting many at once
SLICE = 0.02  # seconds of spawning before the loop gets a turn (RPC, exits, timers)
STOP_BATCH = 200  # instances stopped at least per turn (they share one /proc scan)


# The apps whose recycle lock this task holds (``unrecycled``): a redefinition that
# scales, under its lock, must not wait for itself.
_CHANGING: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "procward_changing", default=frozenset()
)


@contextlib.asynccontextmanager
async def _holding(lock: asyncio.Lock, name: str) -> AsyncIterator[None]:
    async with lock:
        token = _CHANGING.set(_CHANGING.get() | {name})
        try:
            yield
        finally:
            _CHANGING.reset(token)


class Supervisor:
    def __init__(
        self,
        paths: InstancePaths,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
        timers: Timers | None = None,
        spawner: Spawner | None = None,
        secrets: SecretSource | None = None,
    ) -> None:
        self.paths = paths
        # Where apps' secrets come from, asked at each spawn; None: no store, and
        # an app that refers to a secret fails to start, saying so (secretrefs.py).
        self.secrets = secrets
        self._credentials: CredentialFiles | None = None
        # The daemon's own environment; apps start from a clean base (environment.py).
        self.environ = dict(os.environ if environ is None else environ)
        self.clean_env = environment.clean_base(self.environ)
        # Ours, last before the app's own: how a `procward` in an app finds this daemon.
        self.own_env = environment.daemon_pointer(
            self.environ, prefix=paths.prefix.upper(), instance=paths.instance
        )
        # Every process of every app carries it: after a crash of the daemon, and
        # for processes that left their group, it says whose they are (escapees.py).
        self.own_env[MARKER] = paths.state_dir
        self._marker = f"{MARKER}={paths.state_dir}".encode()
        self._table: ProcessTable | None = None
        self.clock = clock
        self.on_change = on_change
        self.loop = asyncio.get_running_loop()
        # Every timer of the instances (and of the supervisor) runs on these.
        self.timers: Timers = timers if timers is not None else LoopTimers(self.loop, clock)
        self.spawner: Spawner = spawner if spawner is not None else process.OsSpawner()
        self.apps: dict[str, App] = {}
        self.children: dict[int, Callable[[int], None]] = {}  # pid -> told its wait status
        self.lingering: set[Lingering] = set()
        self.helpers: dict[int, asyncio.Future[int]] = {}  # exec probes and the like
        self.events = EventLog()
        self.uptime = UptimeHistory()
        self._meter: Meter | None = None
        self.reaper = process.Reaper(self._child_exited, self.loop.call_soon)
        # Restarts without delay, a few at each pass: a crash storm keeps the loop's turns.
        self.respawns = Paced(self.timers.call_soon)
        # Instances of all apps together; a loaded file's [procward] may change it.
        self.max_total_instances = MAX_TOTAL_INSTANCES
        self._uptime_due: dict[str, float] = {}  # apps changed in this pass of the loop
        self._watching: Watching | None = None  # watch mode, made when first needed
        self.console: Console | None = None  # `run --logs`: every app's output mirrored
        # The daemon's cgroup subtree where it uses cgroups (lifecycle.py, decision 0039).
        self.cgroups: Cgroups | None = None
        self.cgroup_status: dict[str, object] = {"in_use": "no", "reason": "not looked at yet"}
        self._memory_guard: MemoryGuard | None = None  # made when an app has max_memory
        self.memory_interval = 5.0  # seconds between its samples: the metrics interval
        self._recycler: Recycler | None = None  # made when an app has cron_restart or max_age
        self._hooks: HookRunner | None = None  # made at the first change of an app with hooks
        # The wall clock and time zone of cron_restart (tests pass ones made from a fake clock).
        self.wall_clock: Callable[[], float] = time.time
        self.zone: tzinfo | None = None  # None: the daemon's ($TZ, /etc/localtime)

    # -- events from below ---------------------------------------------------------

    def _child_exited(self, pid: int, status: int) -> None:
        exited = self.children.pop(pid, None)
        if exited is not None:
            exited(status)
        helper = self.helpers.pop(pid, None)
        if helper is not None and not helper.done():
            helper.set_result(status)
        for lingering in list(self.lingering):
            if not lingering.anything_left():
                self.lingering.discard(lingering)
                lingering.group_emptied()

    # -- processes that left their group (escapees.py) ---------------------------------

    def process_table(self) -> ProcessTable:
        """``/proc`` as of this pass of the loop: one scan for every stop made in it."""
        if self._table is None:
            self._table = self.spawner.process_table()
            self.timers.call_soon(self._forget_table)
        return self._table

    def _forget_table(self) -> None:
        self._table = None

    def _orphans(self, table: ProcessTable) -> list[int]:
        return table.orphans(os.getpid(), (*self.children, *self.helpers))

    def escapees(self, leader: int | None, pgid: int | None, label: Label) -> list[ProcessIdentity]:
        """What ``label`` started outside its process group ``pgid``, alive now."""
        table = self.process_table()
        return table.escapees(leader, pgid, self._orphans_of(label, table))

    def orphans(self, label: Label) -> list[ProcessIdentity]:
        """What ``label`` left behind (handed to the daemon), and their descendants."""
        table = self.process_table()
        return table.escapees(None, None, self._orphans_of(label, table))

    def _orphans_of(self, label: Label, table: ProcessTable) -> list[int]:
        """Orphans handed to the daemon whose environment says they came from ``label``."""
        return [p for p in self._orphans(table) if origin(p, self._marker) == label]

    def strays(self) -> list[ProcessIdentity]:
        """Everything the daemon was handed and did not start (its apps are stopped)."""
        table = self.spawner.process_table()
        return table.escapees(None, None, self._orphans(table))

    async def end_strays(self, timeout: float = 2.0) -> None:
        """TERM, then KILL after ``timeout``, what no stopped app accounted for.

        The last net of ``down``: orphans whose environment no longer says
        which app started them.
        """
        left = escapees.signal_each(self.strays(), signal.SIGTERM)
        if not left:
            return
        log.warning("ended %s, left running by apps", ", ".join(str(p.pid) for p in left))
        deadline = time.monotonic() + timeout
        while escapees.alive(left) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # children of ours: reaped as they go
        escapees.signal_each(left, signal.SIGKILL)

    def watch_child(self, pid: int) -> asyncio.Future[int]:
        """The wait status of ``pid``, a child the daemon started for itself.

        Call it before yielding to the loop after the spawn, or the reaper
        may have collected the child already.
        """
        future: asyncio.Future[int] = self.loop.create_future()
        self.helpers[pid] = future
        return future

    @property
    def meter(self) -> Meter:
        """Made on first use: a daemon nobody asks for metrics never loads them."""
        if self._meter is None:
            from procward.supervision.metrics import Meter

            self._meter = Meter(self._groups, self.clock, self.measure_groups)
        return self._meter

    def measure_groups(self, groups: Iterable[int]) -> dict[int, Usage]:
        """``{pgid: Usage}``: from an instance's cgroup where it has one, else from /proc."""
        from procward.supervision.metrics import read_usage

        wanted = set(groups)
        found: dict[int, Usage] = {}
        if self.cgroups is not None:
            for app in self.apps.values():
                for inst in app.instances:
                    if inst.cgroup is not None and inst.pgid in wanted:
                        usage = self.cgroups.usage(inst.cgroup)
                        if usage is not None:
                            found[inst.pgid] = usage
        rest = wanted - found.keys()
        return found | (read_usage(rest) if rest else {})

    # -- max_memory (memoryguard.py) ---------------------------------------------------

    @property
    def memory_guard(self) -> MemoryGuard:
        """Made when an instance of an app with ``max_memory`` first spawns."""
        if self._memory_guard is None:
            from procward.supervision.memoryguard import MemoryGuard

            self._memory_guard = MemoryGuard(self, self.timers)
        return self._memory_guard

    def watch_memory(self) -> None:
        self.memory_guard.watch()

    def memory_watched(self) -> list[Instance]:
        """The instances whose memory ``max_memory`` limits."""
        return [i for a in self.apps.values() if a.spec.max_memory is not None for i in a.instances]

    # -- cron_restart and max_age (recycling.py) ----------------------------------------

    @property
    def recycler(self) -> Recycler:
        """Made when an app with ``cron_restart`` or ``max_age`` first starts."""
        if self._recycler is None:
            from procward.supervision.recycling import Recycler

            self._recycler = Recycler(self, self.timers, wall=self.wall_clock, zone=self.zone)
        return self._recycler

    def recycling(self, app: App) -> dict[str, Any] | None:
        """When ``app`` is next recycled, if it has the keys (``inspect``)."""
        return self.recycler.view(app) if app.spec.recycled else None

    @property
    def watching(self) -> Watching:
        """Watch mode (reload apps when their files change), loaded when first needed."""
        if self._watching is None:
            from procward.supervision.watching import Watching

            self._watching = Watching(self.apps, self.app, self.reload, self.loop, self.timers)
        return self._watching

    def stop_watching(self) -> None:
        """End the watcher threads (before the interpreter does, at shutdown)."""
        if self._watching is not None:
            self._watching.close()

    def sync_watch(self, app: App) -> None:
        """Watch ``app`` or not, as watch mode says now (after a start or a stop).

        Its recycling timers too (``cron_restart``, ``max_age``): armed while it is desired.
        """
        if app.spec.watch is not None or self._watching is not None:
            self.watching.sync(app)
        if app.spec.recycled or self._recycler is not None:
            self.recycler.sync(app)

    def stop_recycling(self) -> None:
        """No more cron or max_age timers (at shutdown)."""
        if self._recycler is not None:
            self._recycler.close()

    # -- hooks (hooks.py, hooksrunner.py) ----------------------------------------------

    @property
    def hooks(self) -> HookRunner | None:
        """Running hooks' commands and webhooks; None until an app with hooks changed state."""
        return self._hooks

    def _start_hooks(self) -> None:
        from procward.supervision.hooksrunner import HookRunner

        pointer = environment.daemon_pointer(
            self.environ, prefix=self.paths.prefix.upper(), instance=self.paths.instance
        )
        self._hooks = HookRunner(
            self._hooked,
            env={**self.clean_env, **pointer},  # not MARKER: a hook is no process of an app
            daemon=self.paths.instance,
            secrets=lambda: self.secrets,
        )
        self.events.listeners.append(self._hooks.told)

    def _hooked(self, name: str, index: int) -> tuple[tuple[Hook, ...], int | None, int | None]:
        """The hooks of app ``name``, and how its instance ``index`` last ended (code, signal)."""
        app = self.apps.get(name)
        if app is None or not app.spec.hooks:
            return (), None, None
        if index >= len(app.instances):
            return app.spec.hooks, None, None
        record = app.instances[index].record
        return app.spec.hooks, record.exit_code, record.exit_signal

    async def stop_hooks(self) -> None:
        """The daemon stops: deliveries under way get a moment, the rest are dropped."""
        if self._hooks is not None:
            await self._hooks.close()

    def reading(self, pgid: int | None) -> Reading | None:
        """The last CPU and memory reading of a group, if anything measured it."""
        return self._meter.reading(pgid) if self._meter is not None else None

    def _groups(self) -> list[int]:
        return [i.pgid for a in self.apps.values() for i in a.instances if i.pgid is not None]

    def launch(
        self,
        spec: AppSpec,
        index: int,
        *,
        notify_socket: str | None = None,
        secret_env: Mapping[str, str] | None = None,
        credentials: str | None = None,
    ) -> Launch:
        """Instance ``index`` of ``spec`` as it runs; its secrets shown, unless given.

        Views call it as is and get ``<secret:NAME>``; a spawn passes what
        ``resolve_secrets`` gave it.
        """
        base = environment.base_for(spec.inherit_env, self.clean_env, self.environ)
        account = self.account(spec)
        if account is not None:  # HOME, USER, LOGNAME and SHELL of the app's user
            base.update(account.env())
        base.update(self.own_env)
        plan = launch(
            spec,
            index,
            base,
            notify_socket=notify_socket,
            secret_env=secret_env,
            credentials=credentials,
        )
        if not spec.confined:
            return plan
        from procward.supervision.confinement import for_spec

        return structs.replace(plan, confine=for_spec(spec, account))

    def account(self, spec: AppSpec) -> Account | None:
        """The user ``spec`` runs as, as the user database has it now; ``ConfigError`` if gone."""
        if spec.user is None:
            return None
        from procward.supervision.accounts import resolve

        return resolve(spec.name, spec.user, spec.group)

    # -- secrets (secretrefs.py, credentials.py) ---------------------------------------

    def resolve_secrets(self, spec: AppSpec, label: str) -> Resolved:
        """The values of ``spec``'s secrets for one spawn; ``ConfigError`` naming them if not.

        With ``secrets_as = "files"`` they are written to a new credentials
        directory (``label`` names it), which the caller hands back to
        ``release_secrets`` once the process it was made for has ended.
        """
        from procward.supervision import secretrefs

        resolved = secretrefs.resolve(spec, self.secrets)
        if spec.secrets_as != "files":
            return resolved
        account = self.account(spec) if spec.user is not None else None
        owner = (account.uid, account.gid) if account is not None and os.geteuid() == 0 else None
        try:
            directory = self.credentials.write(label, resolved.values, owner)
        except OSError as exc:
            message = f"cannot write the secret files: {exc.strerror or exc}"
            raise ConfigError([Problem(spec.name, "secrets_as", message)]) from None
        return structs.replace(resolved, directory=directory)

    def release_secrets(self, directory: str) -> None:
        """A credentials directory of ``resolve_secrets`` is no longer read: removed."""
        self.credentials.remove(directory)

    def apps_using(self, secret: str) -> list[str]:
        """The apps that refer to secret ``secret``, by name."""
        return sorted(
            name for name, app in self.apps.items() if secret in app.spec.secrets.values()
        )

    def secret_changed(self, secret: str) -> list[str]:
        """``secret`` has a new value (or none): its users' live processes hold the old one.

        Each such instance says so in ``status`` until it is started again
        (``procward reload APP``); returns the apps that use it.
        """
        users = self.apps_using(secret)
        for name in users:
            for inst in self.apps[name].instances:
                if inst.child is not None:
                    inst.outdated_secrets |= {secret}
        return users

    def secret_names(self) -> frozenset[str] | None:
        """The names in the store, for a config's check; None if there is none to ask."""
        return None if self.secrets is None else self.secrets.names()

    @property
    def credentials(self) -> CredentialFiles:
        """The credentials directories of ``secrets_as = "files"``, made when first needed."""
        if self._credentials is None:
            from procward.supervision.credentials import CredentialFiles, shared_root_for

            root = os.path.join(self.paths.runtime_dir, "credentials")
            shared = shared_root_for(self.paths.runtime_dir) if os.geteuid() == 0 else None
            self._credentials = CredentialFiles(root, shared_root=shared)
        return self._credentials

    # -- the host of instances and apps (host.py) ------------------------------------

    @property
    def log_dir(self) -> str:
        return self.paths.log_dir

    def register(self, pid: int, exited: Callable[[int], None]) -> None:
        self.children[pid] = exited

    def linger(self, member: Lingering) -> None:
        self.lingering.add(member)

    def respawn_soon(self, fn: Callable[[], None]) -> Ticket:
        """Restarts without delay, a few at each pass: a crash storm keeps the loop's turns."""
        return self.respawns.add(fn)

    def event(
        self, label: Label, before: str, after: str, pid: int | None, why: str | None
    ) -> None:
        if self._hooks is None and self._hooked(label[0], label[1])[0]:
            self._start_hooks()  # told this event and every one after (hooks.py)
        self.events.add(label[0], label[1], before, after, pid, why)

    def changed(self, app: str, moved: bool) -> None:
        if moved:
            self._note_uptime(app)
            if self._recycler is not None:
                self._recycler.moved(app)
        self.on_change()

    def availability_changed(self, app: str, availability: int | None) -> None:
        self.uptime.note(app, availability)

    def log_opened(self, sink: LogSink) -> None:
        if self.console is not None:
            self.console.attach(sink)

    def _note_uptime(self, name: str) -> None:
        """Tell the uptime history how ``app`` is, once per pass of the loop.

        ``availability()`` looks at every instance: at each change of each
        of 1,000 instances (a scale, a stop) that was a million looks in one
        pass, seconds of a loop that answered nothing. The time noted is
        that of the first change.
        """
        if name not in self._uptime_due:
            self._uptime_due[name] = self.uptime.clock()
            if len(self._uptime_due) == 1:
                self.timers.call_soon(self._note_uptimes)

    def _note_uptimes(self) -> None:
        due, self._uptime_due = self._uptime_due, {}
        for name, when in due.items():
            app = self.apps.get(name)
            if app is not None:
                self.uptime.note(name, app.availability(), now=when)

    async def wait_until(self, app: App, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Wait (without polling) until ``ready()``; False if ``timeout`` passed first.

        Waiters hang on their app and only that app's changes re-check them:
        starting 500 apps is then 500 checks, not 500 x 500. The timeout runs
        on ``timers``, the clock of the instances' own timers it waits for.
        """
        if ready():
            return True
        future: asyncio.Future[None] = self.loop.create_future()
        app.waiters.append((ready, future))
        timer = None if timeout is None else self.timers.call_later(timeout, _time_out, future)
        try:
            await future
        except TimeoutError:
            return False
        finally:
            if timer is not None:
                timer.cancel()
        return True

    # -- apps ------------------------------------------------------------------------

    def app(self, name: str) -> App:
        found = self.apps.get(name)
        if found is None:
            known = ", ".join(sorted(self.apps)) or "none"
            raise NotFound(f"no app named {name!r} (known: {known})")
        return found

    def add(self, spec: AppSpec, source: str, desired: bool) -> App:
        if spec.name in self.apps:
            raise Conflict(f"an app named {spec.name!r} exists already")
        app = App(self, spec, source, desired)
        self.apps[spec.name] = app
        self.uptime.note(spec.name, app.availability())
        self.on_change()
        return app

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        return {name: app.spec.depends_on for name, app in self.apps.items()}

    def closure(self, names: Iterable[str]) -> list[str]:
        """``names`` and everything they depend on, in start order."""
        wanted: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self.app(name).spec.depends_on)
        deps = {n: tuple(d for d in self.apps[n].spec.depends_on if d in wanted) for n in wanted}
        return [n for layer in graph.start_layers(deps) for n in layer]

    # -- operations ------------------------------------------------------------------

    async def start(
        self, names: Iterable[str], *, timeout: float = 60.0, revive: bool = True
    ) -> None:
        """Start ``names`` (and what they depend on), each after its dependencies run.

        An operator's start also starts instances that are ``crashed`` or
        ``exited``; with ``revive`` False (a daemon relaunching what it ran
        before a crash, a config reload) those stay as they are: ``crashed``
        is the restart budget's decision, and a job that ended is done.
        """
        order = self.closure(names)
        deps = {n: self.apps[n].spec.depends_on for n in order}
        needed = {d for n in order for d in deps[n]}
        for layer in graph.start_layers(deps):
            kicked = []
            for count, name in enumerate(layer, 1):
                if await self._kick(self.apps[name], revive):
                    kicked.append(name)
                if count % SPAWN_BATCH == 0:
                    await asyncio.sleep(0)  # let RPC and exits in between big batches
            await asyncio.gather(*(self._started(n, n in needed, timeout) for n in kicked))

    async def _kick(self, app: App, revive: bool = True) -> bool:
        """Send Start to the app's instances, unless a dependency is not running."""
        missing = [d for d in app.spec.depends_on if not _running(self.apps[d])]
        if missing:
            app.note_error(f"not started: {', '.join(missing)} is not running")
            return False
        app.desired = True
        app.last_error = None
        if len(app.instances) > SPAWN_BATCH:
            await self.start_instances(app, list(app.instances), revive)
        else:  # the usual app: no task switch between its few spawns
            for inst in app.instances:
                if revive or inst.state not in _DONE:
                    inst.send(Start())
        self.sync_watch(app)
        return True

    async def _started(self, name: str, wait_running: bool, timeout: float) -> None:
        app = self.apps[name]
        if wait_running:  # others depend on it: past min_start (or ready), or failed
            done = lambda: all(settled(i) for i in app.instances)  # noqa: E731
        else:
            done = lambda: _all_in(app, STARTED)  # noqa: E731
        if not await self.wait_until(app, done, timeout):
            raise Timeout(f"{name} did not start within {timeout:g}s")

    def dependents(self, names: Iterable[str]) -> list[str]:
        """``names`` and every app that depends on them, directly or not."""
        chosen = list(dict.fromkeys(names))
        seen = set(chosen)
        for name in chosen:  # grows as it goes
            more = [n for n, a in self.apps.items() if name in a.spec.depends_on and n not in seen]
            chosen += more
            seen.update(more)
        return chosen

    async def stop(
        self,
        names: Iterable[str],
        *,
        force: bool = False,
        timeout: float | None = None,
        keep_desired: bool = False,
    ) -> None:
        """Stop ``names``, dependents before their dependencies, each app's instances at once.

        Apps that depend on ``names`` are the caller's to include
        (``dependents``): an operator's stop takes them along, as systemd's
        ``Requires=`` does; a restart or a redefinition does not.
        """
        chosen = set(names)
        deps = {
            n: tuple(d for d in a.spec.depends_on if d in chosen)
            for n, a in self.apps.items()
            if n in chosen
        }
        for layer in reversed(graph.start_layers(deps)):
            await asyncio.gather(
                *(self._stop_app(self.apps[n], force, timeout, keep_desired) for n in layer)
            )

    async def _stop_app(
        self, app: App, force: bool, timeout: float | None, keep_desired: bool
    ) -> None:
        if not keep_desired:
            app.desired = False
        if self._watching is not None:
            self._watching.stop(app.name)
        if self._recycler is not None:
            self._recycler.stop(app.name)
        every = [*app.instances, *app.arriving]

        def stop(inst: Instance) -> None:
            inst.send(Stop())
            if force:
                inst.send(StopTimeout())

        await in_slices(every, stop, least=STOP_BATCH)
        limit = (timeout if timeout is not None else app.spec.stop_timeout) + STOP_SLACK
        if not await self.wait_until(app, lambda: all(i.state in AT_REST for i in every), limit):
            raise Timeout(f"{app.name} did not stop within {limit:g}s")

    async def restart(self, names: Iterable[str], *, timeout: float = 60.0) -> None:
        chosen = list(names)
        for name in chosen:
            self.app(name)  # NotFound before anything is done
        async with contextlib.AsyncExitStack() as held:
            for name in sorted(set(chosen)):  # one order: two calls never wait on each other
                await held.enter_async_context(self.unrecycled(name))
            for name in chosen:
                app = self.app(name)
                app.desired = True
                app.last_error = None
                for inst in app.instances:
                    inst.send(Stop(restart=True))
                self.sync_watch(app)
            for name in chosen:
                await self._wait_started(self.apps[name], timeout)

    def unrecycled(self, name: str) -> contextlib.AbstractAsyncContextManager[object]:
        """Held while an operator changes app ``name``'s processes (restart, reload, scale,
        a new definition): a recycle under way (``cron_restart``, ``max_age``) ends
        first, and none starts meanwhile."""
        if self._recycler is None or name in _CHANGING.get():
            return contextlib.nullcontext()  # none, or this task holds it (redefine → scale)
        return _holding(self._recycler.lock(name), name)

    async def _wait_started(self, app: App, timeout: float) -> None:
        if not await self.wait_until(app, lambda: _all_in(app, RESTARTED), timeout):
            raise Timeout(f"{app.name} did not restart within {timeout:g}s")

    async def reload(self, names: Iterable[str]) -> None:
        """Replace every instance of ``names`` with a new process, keeping the app serving.

        An app being recycled (``cron_restart``, ``max_age``) is reloaded once that is done.
        """
        chosen = list(names)
        if self._recycler is None:
            await reload.reload(self, chosen)
            return
        for name in chosen:
            self.app(name)  # NotFound before anything is done
        for name in chosen:
            async with self.unrecycled(name):
                await reload.reload(self, [name])

    def total_instances(self, leaving_out: str | None = None) -> int:
        """Instances of every app (but ``leaving_out``), the count ``max_total_instances`` caps."""
        return sum(len(a.instances) for n, a in self.apps.items() if n != leaving_out)

    def check_total(self, name: str, count: int) -> None:
        """``InvalidParams`` if ``count`` instances of ``name`` would pass the daemon's cap."""
        others = self.total_instances(leaving_out=name)
        if others + count > self.max_total_instances:
            raise InvalidParams(
                f"{count} instances of {name} would make {others + count} in all, more than "
                f"max_total_instances ({self.max_total_instances}); if you mean it, raise it "
                f"in a config file: [procward] max_total_instances = {others + count}"
            )

    async def scale(self, name: str, count: int) -> None:
        self.app(name)  # NotFound before any wait
        async with self.unrecycled(name):
            await self._scale(name, count)

    async def _scale(self, name: str, count: int) -> None:
        app = self.app(name)
        if count < 0:
            raise ValueError("instances must be >= 0")
        if count > app.max_instances:
            raise InvalidParams(
                f"{count} instances of {name} is more than max_instances ({app.max_instances}); "
                f"if you mean it, raise it in the app's file: [procward] max_instances = {count}"
            )
        self.check_total(name, count)
        app.spec = structs.replace(app.spec, instances=count)
        retired = app.resize(count)
        if retired:
            await in_slices(retired, lambda inst: inst.send(Stop()), least=STOP_BATCH)
            limit = app.spec.stop_timeout + STOP_SLACK
            await self.wait_until(app, lambda: all(i.state in AT_REST for i in retired), limit)
            for inst in retired:
                inst.cancel_timers()
                inst.release_credentials()  # if its exit was never told
                inst.close_logs()
            del app.instances[count:]
        elif app.desired:
            await self.start_instances(app, list(app.instances))
            await self.wait_until(app, lambda: _all_in(app, STARTED), 60.0)
        self.on_change()

    async def start_instances(
        self, app: App, instances: list[Instance], revive: bool = True
    ) -> None:
        """Send Start to ``instances``, giving the loop a turn every SLICE seconds of spawning.

        A thousand spawns in one pass of the loop would leave RPC, pipes and
        timers waiting for seconds. Between slices an operator may have
        stopped the app or scaled it down: what is no longer wanted is not started.
        """

        def start(inst: Instance) -> bool:
            if not app.desired or self.apps.get(app.name) is not app:
                return False
            kept = inst.index < len(app.instances) and app.instances[inst.index] is inst
            if kept and (revive or inst.state not in _DONE):
                inst.send(Start())
            return True

        await in_slices(instances, start)

    async def replace(self, spec: AppSpec, source: str) -> None:
        """Give an app a new definition: its instances stop and start again later."""
        await reload.replace(self, spec, source)

    async def redefine(self, spec: AppSpec, source: str) -> str:
        """Give an app a new definition; say how: "updated", "scaled", "reloaded" or "changed"."""
        async with self.unrecycled(spec.name):
            return await reload.redefine(self, spec, source)

    async def delete(self, name: str) -> None:
        app = self.app(name)
        needed_by = [n for n, a in self.apps.items() if name in a.spec.depends_on]
        if needed_by:
            raise Conflict(f"{name} is needed by {', '.join(sorted(needed_by))}; delete them first")
        await self.stop([name])
        for inst in app.instances:
            inst.cancel_timers()
            inst.release_credentials()  # if its exit was never told
            inst.close_logs()
        app.close_sockets()
        if self._watching is not None:
            self._watching.forget(name)
        del self.apps[name]
        if self._recycler is not None:
            self._recycler.stop(name)  # after: a gone app's lock and ages are dropped too
        self.uptime.forget(name)
        self.on_change()

    def close_logs(self) -> None:
        for app in self.apps.values():
            for inst in app.instances:
                inst.close_logs()

    def reopen_logs(self) -> None:
        """Every app's log file opened again by name (SIGUSR1, after a logrotate)."""
        for sink in self.sinks():
            sink.reopen()

    def sinks(self, name: str | None = None) -> list[LogSink]:
        apps = [self.app(name)] if name else list(self.apps.values())
        return [s for app in apps for inst in app.instances for s in inst.log_sinks.values()]

    # -- views -------------------------------------------------------------------------

    def summaries(self) -> list[dict[str, Any]]:
        return [app.summary() for app in self.apps.values()]

    def graph(self) -> dict[str, Any]:
        return dict(graph.as_graph(self.dependencies()))


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():  # woken in the same pass: it was in time
        future.set_exception(TimeoutError())


async def in_slices(
    items: Iterable[Instance], action: Callable[[Instance], object], *, least: int = 1
) -> None:
    """``action`` on each item, giving the loop a turn every SLICE seconds; False stops.

    A slice does at least ``least`` items: a stop scans ``/proc`` once per
    pass of the loop (``process_table``), and with a thousand processes the
    scan alone takes a slice, so stops go in larger batches than starts.
    """
    deadline = time.monotonic() + SLICE
    done = 0
    for item in items:
        if action(item) is False:
            return
        done += 1
        if done >= least and time.monotonic() > deadline:
            await asyncio.sleep(0)
            deadline = time.monotonic() + SLICE
            done = 0


_DONE = frozenset({State.CRASHED, State.EXITED})


def _all_in(app: App, states: frozenset[State]) -> bool:
    return all(inst.state in states for inst in app.instances)


def _running(app: App) -> bool:
    """Running, and past its probation: what an app that depends on it waits for."""
    return all(i.state is State.RUNNING and i.record.proven for i in app.instances)


__all__ = ["ACTIVE", "App", "Supervisor"]
