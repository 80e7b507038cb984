"""The fleet's methods, and the switch that brings ``procward.fleet`` in (decision 0048).

A daemon whose config has no ``[daemon.cluster] enabled = true`` builds this
part and nothing more: no import of ``procward.fleet`` or ``redis``, no task,
no timer (its RPCs answer that the fleet is off). A file that enables it
makes ``configure`` import the package, check the key file, and start the
node's task; ``cluster.json`` in the state directory remembers the settings,
so a restarted daemon rejoins before it serves.

The RPCs never wait on Redis beyond one bounded call: a node that lost Redis
answers "fleet unavailable: <reason>" from its last tick at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from procward.kit._atomic import write_atomic
from procward.kit._errors import Conflict, InvalidParams, NotFound
from procward.kit._rpc import CallContext, Role, method
from procward.supervision.machine import AT_REST, State
from procward.supervision.spec import ConfigError, Problem

if TYPE_CHECKING:
    from procward.fleet.node import FleetNode
    from procward.fleet.placement import PlacedApp
    from procward.kit._tokens import TokenKeeper
    from procward.supervision.clusterkeys import ClusterSettings
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")

DONE = frozenset({State.CRASHED, State.EXITED})
STATUS_TIMEOUT = 1.0  # the longest getFleet waits on Redis
OFF = "the fleet is off here: no [daemon.cluster] with enabled = true was loaded"


class SupervisedApps:
    """The ``fleet.node.Host`` the supervisor offers: placed apps, started and stopped."""

    def __init__(self, sup: Supervisor, address: Callable[[], str]) -> None:
        self.sup = sup
        self._address = address

    def placed(self) -> list[PlacedApp]:
        from procward.fleet.placement import PlacedApp

        return [
            PlacedApp(name, app.spec.placement.count, app.spec.placement.labels)
            for name, app in self.sup.apps.items()
            if app.spec.placement is not None
        ]

    def occupied(self) -> frozenset[str]:
        return frozenset(
            name
            for name, app in self.sup.apps.items()
            if app.spec.placement is not None
            and any(inst.state not in AT_REST for inst in app.instances)
        )

    def summary(self) -> dict[str, list[int]]:
        """app -> [instances running, instances]: at most 200 apps (a record stays small)."""
        return {
            name: [sum(1 for i in app.instances if i.state == "running"), len(app.instances)]
            for name, app in list(self.sup.apps.items())[:200]
        }

    def address(self) -> str:
        return self._address()

    async def start(self, app: str) -> None:
        """Start ``app`` here; one that crashed (or exited) stays so: its restart budget
        decided, and starting it again at every heartbeat would hide that. An operator's
        ``procward @NODE start APP`` revives it."""
        found = self.sup.apps.get(app)
        if found is not None and not any(i.state in DONE for i in found.instances):
            await self.sup.start([app])

    async def stop(self, app: str) -> None:
        if app in self.sup.apps:
            await self.sup.stop([app])


class Fleet:
    """``getFleet``, ``fleetStepDown``, ``fleetDrain``, ``fleetAddress``; the node, when on."""

    def __init__(
        self,
        sup: Supervisor,
        state_dir: str,
        tokens: TokenKeeper,
        *,
        version: str,
        addresses: Callable[[], dict[str, str]],
        secrets: Callable[[Collection[str]], dict[str, bytes]],
    ) -> None:
        self.sup = sup
        self.state_dir = state_dir
        self.tokens = tokens
        self.version = version
        self.addresses = addresses
        self.secrets = secrets
        self.settings: ClusterSettings | None = None
        self.node: FleetNode | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def _settings_path(self) -> str:
        return os.path.join(self.state_dir, "cluster.json")

    # -- switching it on and off ------------------------------------------------------

    def check(self, settings: ClusterSettings | None) -> None:
        """``ConfigError`` if a file's fleet cannot start here (before anything is applied)."""
        if settings is None or not settings.enabled:
            return
        from procward.fleet.connection import FleetSetupError, connect

        try:
            connect(settings, self.secrets)
            if settings.key_file is not None:
                read_fleet_key(settings.key_file)
        except FleetSetupError as exc:
            raise ConfigError(
                [Problem(None, "daemon.cluster", str(exc))], settings.source
            ) from None

    async def configure(self, settings: ClusterSettings | None) -> None:
        """A loaded file's ``[daemon.cluster]``: start, restart or stop the node.

        The same settings again (a reload) restart nothing, but the key file is
        read again: replacing it on every node and reloading rotates the fleet key.
        """
        if settings is None:
            return
        if settings == self.settings:
            key = read_fleet_key(settings.key_file) if settings.key_file else None
            self.tokens.trust_fleet(key, audience(settings.name))
            return
        await self.close()
        if not settings.enabled:
            self.settings = None
            _remove(self._settings_path)
            return
        self._start(settings)
        write_atomic(self._settings_path, json.dumps(settings.as_dict()).encode())

    async def resume(self) -> None:
        """At daemon start: rejoin the fleet a loaded file enabled before (``cluster.json``)."""
        try:
            with open(self._settings_path, "rb") as f:
                saved = json.loads(f.read())
        except FileNotFoundError:
            return  # the usual daemon: one failed open, nothing imported
        except (OSError, ValueError) as exc:
            log.error("fleet: %s unreadable (%s); not rejoining", self._settings_path, exc)
            return
        from procward.supervision.clusterkeys import ClusterSettings

        try:
            settings = ClusterSettings.from_dict(saved)
        except (OSError, ValueError) as exc:
            log.error("fleet: %s unreadable (%s); not rejoining", self._settings_path, exc)
            return
        try:
            self.check(settings)
            self._start(settings)
        except ConfigError as exc:
            log.error("fleet: not rejoining: %s", exc)

    def _start(self, settings: ClusterSettings) -> None:
        from procward.fleet.connection import connect
        from procward.fleet.node import FleetNode, fence_path
        from procward.fleet.store import FleetStore

        store = FleetStore(connect(settings, self.secrets), settings.name)
        host = SupervisedApps(self.sup, lambda: self._advertised(settings))
        path = fence_path(self.state_dir)
        self.node = FleetNode(settings, store, host, state_path=path, version=self.version)
        key = read_fleet_key(settings.key_file) if settings.key_file else None
        self.tokens.trust_fleet(key, audience(settings.name))
        self.settings = settings
        self._task = asyncio.get_running_loop().create_task(self.node.run(), name="fleet")
        log.info("fleet: %s joins %r on %s", settings.node, settings.name, settings.redis)

    def _advertised(self, settings: ClusterSettings) -> str:
        return settings.advertise or self.addresses().get("tcp", "")

    async def close(self) -> None:
        """The daemon stops (or the fleet is turned off): the node stops acting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        node, self.node = self.node, None
        if node is not None:
            await node.close()
            await node.store.redis.aclose()
            self.tokens.trust_fleet(None)

    # -- methods ----------------------------------------------------------------------

    def _running(self) -> FleetNode:
        if self.node is None:
            raise Conflict(OFF)
        if self.node.unavailable is not None:
            raise Conflict(f"fleet unavailable: {self.node.unavailable}")
        return self.node

    async def _bounded(self, call: Any) -> Any:
        node = self._running()
        try:
            return await asyncio.wait_for(call(node), timeout=STATUS_TIMEOUT)
        except (TimeoutError, Exception) as exc:
            from procward.fleet.node import _reason

            raise Conflict(f"fleet unavailable: {_reason(exc)}") from None

    @method(Role.VIEWER, result="FleetView")
    async def getFleet(self, ctx: CallContext) -> dict[str, Any]:
        """Every node of the fleet (state, leader, labels, version, apps, drained) and the
        assignments, read from Redis in one round trip.

        Answers "fleet unavailable: <reason>" at once when this node has lost
        Redis, and "the fleet is off here" on a daemon without a fleet.
        """
        snapshot = await self._bounded(lambda node: node.store.snapshot())
        assert self.node is not None and self.settings is not None
        return fleet_view(self.node, self.settings, snapshot)

    @method(Role.ADMIN, result="FleetLeader")
    async def fleetStepDown(self, ctx: CallContext) -> dict[str, Any]:
        """Ask the leader to give up its lease (at its next heartbeat); another is elected."""
        node = self._running()
        ttl = max(node.lease_ttl, 2 * node.settings.heartbeat)
        holder = await self._bounded(lambda n: n.store.ask_step_down(ttl))
        return {"leader": holder.rpartition("|")[0] or None}

    @method(Role.ADMIN, result="FleetDrained")
    async def fleetDrain(self, ctx: CallContext, node: str, drained: bool = True) -> dict[str, Any]:
        """Drain a node (its placed apps move away: stopped there, then started elsewhere),
        or undrain it with ``drained = false``."""
        from procward.supervision.clusterkeys import NAME

        if not NAME.fullmatch(node):
            raise InvalidParams(f"not a node name: {node!r}")
        await self._bounded(lambda n: n.store.set_drained(node, drained))
        return {"node": node, "drained": drained}

    @method(Role.VIEWER, result="FleetAddress")
    async def fleetAddress(self, ctx: CallContext, node: str) -> dict[str, Any]:
        """Where node ``node`` listens, and a 60 s fleet token in the caller's own role.

        What ``procward @NODE ...`` asks its local daemon before it connects
        to ``node``. The token is never of a higher role than the caller's.
        """
        snapshot = await self._bounded(lambda n: n.store.snapshot())
        record = next((r for r in snapshot.nodes if r.name == node), None)
        if record is None:
            raise NotFound(f"no node {node!r} in the fleet")
        if not record.address:
            raise Conflict(f"node {node!r} advertises no address (advertise, or its TCP listener)")
        assert self.settings is not None
        if self.settings.key_file is None:
            raise Conflict("this node has no fleet key (key_file in [daemon.cluster])")
        who = f"fleet:{self.settings.node}:{ctx.peer.transport}"
        token = self.tokens.issue_fleet(ctx.peer.role, who)
        return {"node": node, "address": record.address, "token": token}


def audience(cluster: str) -> str:
    return f"procward-fleet:{cluster}"


def read_fleet_key(path: str) -> bytes:
    """The fleet's signing key: refused unless ours, 0600 (or stricter), and 32 bytes or more."""
    from procward.fleet.connection import FleetSetupError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise FleetSetupError(f"key_file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise FleetSetupError(
                f"key_file {path} must be this user's and mode 0600 (chmod 600 {path})"
            )
        key = f.read(4097).strip()
    if len(key) < 32:
        raise FleetSetupError(f"key_file {path}: at least 32 bytes (e.g. openssl rand -hex 32)")
    return key


def fleet_view(node: FleetNode, settings: ClusterSettings, snapshot: Any) -> dict[str, Any]:
    views = {view.name: view for view in node.views(snapshot)}
    leader = snapshot.lease.rpartition("|")[0] or None
    nodes = [
        {
            "name": record.name,
            "state": views[record.name].state,
            "leader": record.name == leader,
            "address": record.address,
            "labels": dict(record.labels),
            "version": record.version,
            "apps": dict(record.apps),
            "running": list(record.running),
            "drained": record.name in snapshot.drained,
            "age": round(max(0, snapshot.now - record.seen) / 1000, 3),
        }
        for record in snapshot.nodes
    ]
    doc = snapshot.assignments
    return {
        "cluster": settings.name,
        "node": settings.node,
        "leader": leader,
        "fence": snapshot.fence,
        "seen_fence": node.highest_fence,  # this node obeys no assignments below it
        "refused": node.refused,  # assignment documents it ignored for their old fence
        "nodes": nodes,
        "assignments": None
        if doc is None
        else {"fence": doc.fence, "by": doc.by, "apps": {k: list(v) for k, v in doc.apps.items()}},
    }


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
