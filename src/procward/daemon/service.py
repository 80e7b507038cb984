"""``ProcwardDaemon``: the supervisor and its RPC surface on the kit's ``Daemon``.

The daemon is composed (DESIGN.md, "Parts, not mixins"): each group of RPC
methods is a plain object in ``procward.daemon.parts``, built with the parts
it uses; this class is the wiring. It builds the parts, registers their
methods, and runs the kit's hooks (start, stop, a failed start, SIGHUP,
SIGUSR1, the upgrade's two halves) through them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from procward._version import __version__
from procward.daemon import lifecycle, savedstate
from procward.daemon.parts import Parts
from procward.daemon.parts.apps import Apps
from procward.daemon.parts.audit import Audit
from procward.daemon.parts.commands import Commands
from procward.daemon.parts.configs import Configs
from procward.daemon.parts.events import EventHistory
from procward.daemon.parts.fleet import Fleet
from procward.daemon.parts.hooks import Hooks
from procward.daemon.parts.logs import Logs
from procward.daemon.parts.metrics import Metrics
from procward.daemon.parts.network import NetworkSettings
from procward.daemon.parts.secrets import WITHHELD, Secrets
from procward.daemon.parts.upgrade import Upgrade
from procward.daemon.parts.uptime import Uptime
from procward.daemon.parts.views import HttpPages, Views, daemon_view
from procward.daemon.parts.watch import Watch
from procward.daemon.savedstate import SavedSettings
from procward.daemon.statekeeper import StateKeeper
from procward.kit._daemon import Daemon
from procward.kit._rpc import TokenHints
from procward.supervision.supervisor import Supervisor

if TYPE_CHECKING:
    from procward.daemon.foreground import Foreground, RunOptions

# The classes whose ``@method``s the daemon serves, besides the kit's own.
RPC_PARTS = (
    Apps,
    Audit,
    Commands,
    Configs,
    Fleet,
    Hooks,
    Logs,
    Metrics,
    NetworkSettings,
    Secrets,
    Uptime,
    Views,
    Watch,
)


class ProcwardDaemon(Daemon):
    """The wiring.

    When methods are registered: ``Audit`` needs no supervisor and is built
    and registered in ``__init__`` (the servers record through it). Every
    other part works on the ``Supervisor``, which needs the running loop, so
    they are built and registered in ``on_start``. That is early enough: the
    kit serves only once ``on_start`` has returned (lock → bind → on_start →
    serve), so no call is answered before every method is in place.
    """

    prefix = "procward"
    token_hints = TokenHints(
        "procward token create", "procward token list", "procward token revoke ID"
    )
    version = __version__
    state_flush_interval = 30.0
    start_grace = 5.0  # at most this long restoring apps before serving

    def __init__(
        self,
        *args: Any,
        start_held: bool = False,
        foreground: RunOptions | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Started deliberately in the foreground (`procward run`: a service
        # manager, a container): apps held down by the last stop start too.
        # A daemon some command started on demand leaves them down until `up`.
        self.start_held = start_held
        self.audit = Audit(self.paths.log_dir, self.registry.parameter_names, WITHHELD)
        self.registry.collect(self.audit)
        self.parts: Parts | None = None
        self._restoring: asyncio.Task[None] | None = None
        # `procward run -c FILE --logs --exit-on ...` (daemon/foreground.py), else None.
        self.foreground: Foreground | None = None
        if foreground is not None:
            from procward.daemon.foreground import Foreground

            self.foreground = Foreground(foreground, self)

    def _build(self) -> Parts:
        """Every part, each given what it uses; their methods registered."""
        # The supervisor reports changes to the keeper, the keeper saves what the
        # supervisor and the settings hold: each is bound before the first call.
        keeper: StateKeeper
        sup = Supervisor(self.paths, on_change=lambda: keeper.changed())  # noqa: PLW0108

        entries = savedstate.AppEntries()

        def snapshot() -> dict[str, Any]:
            settings = SavedSettings(metrics.saved(), network.saved(), sup.max_total_instances)
            kept = keeper.saved_apps.entries() if keeper.saved_apps is not None else ()
            return savedstate.snapshot(sup, kept, settings, entries)

        keeper = StateKeeper(self.paths, snapshot, lambda: lifecycle.prompt_status(sup))
        metrics = Metrics(sup, self.scheduler, keeper)
        pages = HttpPages(sup, metrics, self.audit)
        network = NetworkSettings(
            self.network,
            keeper,
            add_routes=pages.add_routes,
            addresses=self.addresses,
            update_metadata=self.update_metadata,
            warn=self.start_warning,
            handed=self.handed_network,
        )
        logs = Logs(sup, self._reopen_logs)
        views = Views(
            sup,
            metrics,
            logs,
            about=lambda: daemon_view(self, network, sup.cgroup_status),
            warnings=keeper.warnings,
        )
        commands = Commands(sup)
        uptime = Uptime(sup, self.paths.state_dir, self.scheduler)
        events = EventHistory(sup, self.paths.state_dir, self.scheduler)
        upgrade = Upgrade(sup, keeper, commands, uptime, events, self.audit)
        apps, watch = Apps(sup, keeper), Watch(sup)
        secrets = Secrets(self.paths.state_dir, self.paths.instance, sup)
        sup.secrets = secrets  # what each spawn that needs a secret reads
        fleet = Fleet(
            sup,
            self.paths.state_dir,
            self.network.tokens,
            version=self.version,
            addresses=self.addresses,
            secrets=secrets.values,
        )
        configs = Configs(sup, keeper, fleet)
        parts = (
            *(apps, commands, configs, fleet, logs, metrics, network, secrets, uptime, views),
            watch,
        )
        for part in parts:
            self.registry.collect(part)
        self.registry.collect(Hooks(sup))

        return Parts(
            sup, keeper, metrics, network, configs, uptime, events, upgrade, secrets, fleet
        )

    # -- the kit's hooks -----------------------------------------------------------

    async def on_start(self) -> None:
        saved, handed = lifecycle.prepare(self.paths, self.handed_over)
        if self.foreground is not None:
            self.foreground.read_config()  # a bad file: not started, nothing touched
        parts = self.parts = self._build()
        if self.foreground is not None:
            self.foreground.attach(parts.sup)
        await lifecycle.start(parts, saved, handed, self.paths.state_dir)
        self._restoring = await lifecycle.recover(
            parts,
            saved,
            handed,
            path=self.paths.state,
            start_held=self.start_held,
            warn=self.start_warning,
            grace=self.start_grace,
        )
        if self.foreground is not None:
            await self.foreground.load(parts.configs, self.start_grace)
        await parts.fleet.resume()
        self.scheduler.every(self.state_flush_interval, parts.keeper.baseline, name="state-flush")
        self.server.auditor = self.audit.record
        parts.keeper.status.write()
        await parts.keeper.save_or_warn(self.start_warning)

    async def on_start_failed(self) -> None:
        if self.foreground is not None:
            self.foreground.stop_loading()
        await lifecycle.abandon_start(self.parts, self._restoring)
        if self.foreground is not None:
            self.foreground.close()

    async def on_stop(self) -> None:
        if self.foreground is not None:
            self.foreground.stop_loading()
        if self.parts is not None:
            await lifecycle.stop(self.parts, self.audit, force=self.force_stop)
        if self.foreground is not None:
            self.foreground.close()

    def on_reload(self) -> Awaitable[None] | None:
        return None if self.parts is None else self.parts.configs.on_reload()

    def on_reopen_logs(self) -> None:
        if self.parts is not None:
            self.parts.sup.reopen_logs()

    async def before_upgrade(self) -> dict[str, Any]:
        extra = await super().before_upgrade()
        if self.parts is not None:
            extra.update(await self.parts.upgrade.before_upgrade())
        return extra

    async def on_handover(self) -> tuple[dict[str, Any], list[int]]:
        assert self.parts is not None, "an upgrade is asked for while serving"
        handed = await self.parts.upgrade.on_handover()
        if self.foreground is not None:  # the next program mirrors what comes next
            self.foreground.close()
        return handed
