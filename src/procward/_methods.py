"""The typed methods of ``procward.Client`` and ``procward.AsyncClient``: one per RPC method.

Made by ``python -m procward.daemon.clientgen`` from the daemon's method
registry; do not edit. After a change to a method of the daemon, run it
again: tests/daemon/test_clientgen.py fails until this file is what the
registry says. Parameters are keyword-only; a parameter left at None is not
sent (the daemon's default applies). Replies are decoded into the records of
``procward.replies`` and ``procward.reports``; streams are iterators of
``Notification`` that end their own connection when closed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: nothing of it is needed at run time
if TYPE_CHECKING:
    import builtins
    from typing import Any

    from procward._streams import AsyncStream, Stream
    from procward.replies import (
        AppsChanged,
        AppView,
        ConfigApplied,
        DaemonStatus,
        Deleted,
        NetworkView,
        Ping,
        StatusTable,
    )
    from procward.reports import (
        AuditView,
        Event,
        ExecResult,
        FleetAddress,
        FleetDrained,
        FleetLeader,
        FleetView,
        Flushed,
        Graph,
        HealthReport,
        HookView,
        Inspection,
        KeyRotated,
        LogEntry,
        MetricsReport,
        SecretRemoved,
        SecretSet,
        SecretsKeyRotated,
        SecretsReport,
        SecretsReset,
        TokenCreated,
        TokenInfo,
        TokenRevoked,
        TrendsReport,
        UpgradeStarted,
        UptimeReport,
        WatchStatus,
    )


class Methods:
    """Every method of the daemon, for the synchronous client (``procward.Client``)."""

    def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        raise NotImplementedError

    def _follow(self, method: str, params: dict[str, Any]) -> Stream:
        raise NotImplementedError

    def addApp(
        self,
        *,
        name: str,
        spec: dict[str, Any],
        start: bool = True,
    ) -> AppsChanged:
        """Add an ad-hoc app (kept across restarts) from a procward.toml-shaped table. (role:
        admin)
        """
        reply: AppsChanged = self._call(
            "addApp",
            {
                "name": name,
                "spec": spec,
                "start": start,
            },
            "AppsChanged",
        )
        return reply

    def authenticate(
        self,
        *,
        token: str,
    ) -> dict[str, Any]:
        """Act with the role of ``token`` on this connection, until it expires. (role:
        anonymous)
        """
        reply: dict[str, Any] = self._call(
            "authenticate",
            {
                "token": token,
            },
            None,
        )
        return reply

    def createToken(
        self,
        *,
        role: str,
        ttl: str | float = "1h",
        subject: str | None = None,
    ) -> TokenCreated:
        """A token for the network: ``role`` viewer, operator or admin, valid ``ttl``. (role:
        admin)
        """
        reply: TokenCreated = self._call(
            "createToken",
            {
                "role": role,
                "ttl": ttl,
                "subject": subject,
            },
            "TokenCreated",
        )
        return reply

    def deleteApp(
        self,
        *,
        name: str,
    ) -> Deleted:
        """Stop an app and forget it; the reply names it (there is no app left to show). (role:
        admin)
        """
        reply: Deleted = self._call(
            "deleteApp",
            {
                "name": name,
            },
            "Deleted",
        )
        return reply

    def disableWatch(self) -> WatchStatus:
        """Stop watching every app until ``enableWatch``. (role: operator)"""
        reply: WatchStatus = self._call(
            "disableWatch",
            {},
            "WatchStatus",
        )
        return reply

    def enableWatch(
        self,
        *,
        apps: builtins.list[str] | None = None,
    ) -> WatchStatus:
        """Watch every app that has a ``watch`` key, or only ``apps``. (role: operator)"""
        reply: WatchStatus = self._call(
            "enableWatch",
            {
                "apps": apps,
            },
            "WatchStatus",
        )
        return reply

    def exec(
        self,
        *,
        name: str,
        command: str | None = None,
        args: builtins.list[str] | None = None,
        instance: int = 0,
        timeout: float | str = 600.0,
        stream: bool = False,
    ) -> ExecResult:
        """Run ``command`` of app ``name`` (plus ``args``), or ``args`` alone (admin). (role:
        operator)
        """
        reply: ExecResult = self._call(
            "exec",
            {
                "name": name,
                "command": command,
                "args": args,
                "instance": instance,
                "timeout": timeout,
                "stream": stream,
            },
            "ExecResult",
        )
        return reply

    def fleetAddress(
        self,
        *,
        node: str,
    ) -> FleetAddress:
        """Where node ``node`` listens, and a 60 s fleet token in the caller's own role. (role:
        viewer)
        """
        reply: FleetAddress = self._call(
            "fleetAddress",
            {
                "node": node,
            },
            "FleetAddress",
        )
        return reply

    def fleetDrain(
        self,
        *,
        node: str,
        drained: bool = True,
    ) -> FleetDrained:
        """Drain a node (its placed apps move away: stopped there, then started elsewhere), or
        undrain it with ``drained = false``. (role: admin)
        """
        reply: FleetDrained = self._call(
            "fleetDrain",
            {
                "node": node,
                "drained": drained,
            },
            "FleetDrained",
        )
        return reply

    def fleetStepDown(self) -> FleetLeader:
        """Ask the leader to give up its lease (at its next heartbeat); another is elected.
        (role: admin)
        """
        reply: FleetLeader = self._call(
            "fleetStepDown",
            {},
            "FleetLeader",
        )
        return reply

    def flushLogs(
        self,
        *,
        name: str | None = None,
    ) -> Flushed:
        """Empty the logs (of one app, or all) and delete their backups. (role: admin)"""
        reply: Flushed = self._call(
            "flushLogs",
            {
                "name": name,
            },
            "Flushed",
        )
        return reply

    def followEvents(
        self,
        *,
        name: str | None = None,
    ) -> Stream:
        """Stream new events as ``event`` notifications until the client hangs up. (role:
        viewer)
        """
        return self._follow(
            "followEvents",
            {
                "name": name,
            },
        )

    def followLogs(
        self,
        *,
        name: str | None = None,
        stream: str | None = None,
        instance: int | None = None,
        lines: int = 0,
        since: str | None = None,
    ) -> Stream:
        """Stream new output as ``log`` notifications until the client hangs up. (role: viewer)"""
        return self._follow(
            "followLogs",
            {
                "name": name,
                "stream": stream,
                "instance": instance,
                "lines": lines,
                "since": since,
            },
        )

    def getApp(
        self,
        *,
        name: str,
    ) -> AppView:
        """The ``getApp`` method. (role: viewer)"""
        reply: AppView = self._call(
            "getApp",
            {
                "name": name,
            },
            "AppView",
        )
        return reply

    def getAudit(
        self,
        *,
        limit: int = 100,
        since: float | str | None = None,
        name: str | None = None,
    ) -> builtins.list[AuditView]:
        """The newest ``limit`` entries (oldest first) of one method or all. (role: admin)"""
        reply: builtins.list[AuditView] = self._call(
            "getAudit",
            {
                "limit": limit,
                "since": since,
                "name": name,
            },
            "list[AuditView]",
        )
        return reply

    def getDependencyGraph(
        self,
        *,
        name: str | None = None,
    ) -> Graph:
        """Who depends on whom; with ``name``, what that app needs and what needs it. (role:
        viewer)
        """
        reply: Graph = self._call(
            "getDependencyGraph",
            {
                "name": name,
            },
            "Graph",
        )
        return reply

    def getEnv(
        self,
        *,
        name: str,
        instance: int = 0,
    ) -> dict[str, str]:
        """The environment an instance runs with; below admin, secret values read ``***``.
        (role: viewer)
        """
        reply: dict[str, str] = self._call(
            "getEnv",
            {
                "name": name,
                "instance": instance,
            },
            None,
        )
        return reply

    def getEvents(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        since: str | None = None,
    ) -> builtins.list[Event]:
        """What happened to the instances, most recent last (kept in memory). (role: viewer)"""
        reply: builtins.list[Event] = self._call(
            "getEvents",
            {
                "name": name,
                "limit": limit,
                "since": since,
            },
            "list[Event]",
        )
        return reply

    def getFleet(self) -> FleetView:
        """Every node of the fleet (state, leader, labels, version, apps, drained) and the
        assignments, read from Redis in one round trip. (role: viewer)
        """
        reply: FleetView = self._call(
            "getFleet",
            {},
            "FleetView",
        )
        return reply

    def getHealth(
        self,
        *,
        name: str | None = None,
    ) -> HealthReport:
        """Probe results per instance, and whether everything meant to run is well. (role:
        viewer)
        """
        reply: HealthReport = self._call(
            "getHealth",
            {
                "name": name,
            },
            "HealthReport",
        )
        return reply

    def getHooks(self) -> builtins.list[HookView]:
        """Each hook (by definition): its events, target, apps and delivery counts. (role:
        viewer)
        """
        reply: builtins.list[HookView] = self._call(
            "getHooks",
            {},
            "list[HookView]",
        )
        return reply

    def getLogs(
        self,
        *,
        name: str | None = None,
        lines: int = 100,
        stream: str | None = None,
        instance: int | None = None,
        since: str | None = None,
    ) -> builtins.list[LogEntry]:
        """The last ``lines`` lines of each matching log (current file and backups). (role:
        viewer)
        """
        reply: builtins.list[LogEntry] = self._call(
            "getLogs",
            {
                "name": name,
                "lines": lines,
                "stream": stream,
                "instance": instance,
                "since": since,
            },
            "list[LogEntry]",
        )
        return reply

    def getMetrics(
        self,
        *,
        name: str | None = None,
    ) -> MetricsReport:
        """CPU (% of one core) and memory (bytes) per instance and for the daemon. (role:
        viewer)
        """
        reply: MetricsReport = self._call(
            "getMetrics",
            {
                "name": name,
            },
            "MetricsReport",
        )
        return reply

    def getNetwork(self) -> NetworkView:
        """Where the daemon listens, each listener wanted and why it does not listen, TLS.
        (role: viewer)
        """
        reply: NetworkView = self._call(
            "getNetwork",
            {},
            "NetworkView",
        )
        return reply

    def getTrends(
        self,
        *,
        name: str | None = None,
        since: float | None = None,
    ) -> TrendsReport:
        """Each app's CPU and memory over the last minutes (60 samples), while sampling is on.
        (role: viewer)
        """
        reply: TrendsReport = self._call(
            "getTrends",
            {
                "name": name,
                "since": since,
            },
            "TrendsReport",
        )
        return reply

    def getUptime(
        self,
        *,
        name: str | None = None,
        days: int = 30,
    ) -> UptimeReport:
        """Per app and UTC day: seconds up, partly up and down while meant to run. (role:
        viewer)
        """
        reply: UptimeReport = self._call(
            "getUptime",
            {
                "name": name,
                "days": days,
            },
            "UptimeReport",
        )
        return reply

    def getWatchStatus(self) -> WatchStatus:
        """Per watched app: its paths, reloads caused by changes, and the last change. (role:
        viewer)
        """
        reply: WatchStatus = self._call(
            "getWatchStatus",
            {},
            "WatchStatus",
        )
        return reply

    def inspect(
        self,
        *,
        name: str,
        lines: int = 20,
    ) -> Inspection:
        """Everything about one app for a diagnosis, in one answer. (role: viewer)"""
        reply: Inspection = self._call(
            "inspect",
            {
                "name": name,
                "lines": lines,
            },
            "Inspection",
        )
        return reply

    def list(self) -> builtins.list[AppView]:
        """The ``list`` method. (role: viewer)"""
        reply: builtins.list[AppView] = self._call(
            "list",
            {},
            "list[AppView]",
        )
        return reply

    def listSecrets(self) -> SecretsReport:
        """Each secret's name, size, when and by whom it was set, and the apps that use it;
        never a value. ``readable`` false and ``problem`` when the store cannot be read.
        (role: viewer)
        """
        reply: SecretsReport = self._call(
            "listSecrets",
            {},
            "SecretsReport",
        )
        return reply

    def listTokens(self) -> builtins.list[TokenInfo]:
        """The tokens issued and not yet expired (never the tokens themselves), oldest first.
        (role: admin)
        """
        reply: builtins.list[TokenInfo] = self._call(
            "listTokens",
            {},
            "list[TokenInfo]",
        )
        return reply

    def loadConfig(
        self,
        *,
        path: str,
        start: bool = True,
    ) -> ConfigApplied:
        """Add or update the apps of a procward.toml; start those with autostart. (role: admin)"""
        reply: ConfigApplied = self._call(
            "loadConfig",
            {
                "path": path,
                "start": start,
            },
            "ConfigApplied",
        )
        return reply

    def ping(self) -> Ping:
        """The ``ping`` method. (role: anonymous)"""
        reply: Ping = self._call(
            "ping",
            {},
            "Ping",
        )
        return reply

    def reloadAll(self) -> AppsChanged:
        """Replace each instance of every app with a new process, one at a time. (role:
        operator)
        """
        reply: AppsChanged = self._call(
            "reloadAll",
            {},
            "AppsChanged",
        )
        return reply

    def reloadApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """Replace each instance with a new process, one at a time, without downtime. (role:
        operator)
        """
        reply: AppsChanged = self._call(
            "reloadApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    def reloadConfig(self) -> ConfigApplied:
        """Read every config file again and apply what changed (SIGHUP does the same). (role:
        admin)
        """
        reply: ConfigApplied = self._call(
            "reloadConfig",
            {},
            "ConfigApplied",
        )
        return reply

    def removeSecret(
        self,
        *,
        name: str,
    ) -> SecretRemoved:
        """Remove secret ``name``; apps that use it then fail to start, saying so. (role:
        admin)
        """
        reply: SecretRemoved = self._call(
            "removeSecret",
            {
                "name": name,
            },
            "SecretRemoved",
        )
        return reply

    def reopenLogs(self) -> dict[str, Any]:
        """Reopen every log file by name, after an external logrotate (also SIGUSR1). (role:
        operator)
        """
        reply: dict[str, Any] = self._call(
            "reopenLogs",
            {},
            None,
        )
        return reply

    def resetSecrets(self) -> SecretsReset:
        """Move a store that cannot be read aside (``secrets.enc.unreadable-<time>``) and start
        an empty one. Refused while the store is readable. (role: admin)
        """
        reply: SecretsReset = self._call(
            "resetSecrets",
            {},
            "SecretsReset",
        )
        return reply

    def restartAll(self) -> AppsChanged:
        """The ``restartAll`` method. (role: operator)"""
        reply: AppsChanged = self._call(
            "restartAll",
            {},
            "AppsChanged",
        )
        return reply

    def restartApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """The ``restartApp`` method. (role: operator)"""
        reply: AppsChanged = self._call(
            "restartApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    def resume(self) -> AppsChanged:
        """Start the apps the last stop of the daemon held down (what `procward up` does).
        (role: operator)
        """
        reply: AppsChanged = self._call(
            "resume",
            {},
            "AppsChanged",
        )
        return reply

    def revokeToken(
        self,
        *,
        id: str,
    ) -> TokenRevoked:
        """Refuse one token from now on (across restarts) and end its sessions. (role: admin)"""
        reply: TokenRevoked = self._call(
            "revokeToken",
            {
                "id": id,
            },
            "TokenRevoked",
        )
        return reply

    def rotateSecretsKey(self) -> SecretsKeyRotated:
        """Seal every secret with a new key, which replaces the key file. (role: admin)"""
        reply: SecretsKeyRotated = self._call(
            "rotateSecretsKey",
            {},
            "SecretsKeyRotated",
        )
        return reply

    def rotateTokens(self) -> KeyRotated:
        """A new signing key: every token issued so far is refused, its sessions ended. (role:
        admin)
        """
        reply: KeyRotated = self._call(
            "rotateTokens",
            {},
            "KeyRotated",
        )
        return reply

    def scale(
        self,
        *,
        name: str,
        instances: int,
    ) -> AppsChanged:
        """The ``scale`` method. (role: operator)"""
        reply: AppsChanged = self._call(
            "scale",
            {
                "name": name,
                "instances": instances,
            },
            "AppsChanged",
        )
        return reply

    def setMetricsEnabled(
        self,
        *,
        enabled: bool,
        interval: float | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Turn periodic sampling on or off (``interval`` seconds, default 5), or for one app.
        (role: admin)
        """
        reply: dict[str, Any] = self._call(
            "setMetricsEnabled",
            {
                "enabled": enabled,
                "interval": interval,
                "name": name,
            },
            None,
        )
        return reply

    def setNetwork(
        self,
        *,
        tcp: str | None = None,
        http: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
    ) -> NetworkView:
        """Listen on TCP and/or HTTP ("127.0.0.1:9700"); "" turns one off, null leaves it.
        (role: admin)
        """
        reply: NetworkView = self._call(
            "setNetwork",
            {
                "tcp": tcp,
                "http": http,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "tls_client_ca": tls_client_ca,
            },
            "NetworkView",
        )
        return reply

    def setSecret(
        self,
        *,
        name: str,
        value: str,
        encoding: str = "utf-8",
    ) -> SecretSet:
        """Set secret ``name``; ``value`` is text, or base64 with ``encoding="base64"`` (any
        bytes). At most 64 KiB; never recorded in the audit log. (role: admin)
        """
        reply: SecretSet = self._call(
            "setSecret",
            {
                "name": name,
                "value": value,
                "encoding": encoding,
            },
            "SecretSet",
        )
        return reply

    def shutdown(
        self,
        *,
        force: bool = False,
    ) -> dict[str, Any]:
        """Stop the daemon; the reply is sent before it stops. (role: admin)"""
        reply: dict[str, Any] = self._call(
            "shutdown",
            {
                "force": force,
            },
            None,
        )
        return reply

    def startAll(self) -> AppsChanged:
        """The ``startAll`` method. (role: operator)"""
        reply: AppsChanged = self._call(
            "startAll",
            {},
            "AppsChanged",
        )
        return reply

    def startApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """Start an app, and first the apps it depends on (the views: in start order). (role:
        operator)
        """
        reply: AppsChanged = self._call(
            "startApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    def status(self) -> DaemonStatus:
        """The ``status`` method. (role: viewer)"""
        reply: DaemonStatus = self._call(
            "status",
            {},
            "DaemonStatus",
        )
        return reply

    def statusTable(self) -> StatusTable:
        """What the status command prints: the instances as columns, the whole view only of
        those with more to say (decision 0051). (role: viewer)
        """
        reply: StatusTable = self._call(
            "statusTable",
            {},
            "StatusTable",
        )
        return reply

    def stopAll(
        self,
        *,
        force: bool = False,
        timeout: float | None = None,
    ) -> AppsChanged:
        """The ``stopAll`` method. (role: operator)"""
        reply: AppsChanged = self._call(
            "stopAll",
            {
                "force": force,
                "timeout": timeout,
            },
            "AppsChanged",
        )
        return reply

    def stopApp(
        self,
        *,
        name: str,
        force: bool = False,
        timeout: float | None = None,
    ) -> AppsChanged:
        """Stop an app, and first the apps that depend on it (they cannot run without it).
        (role: operator)
        """
        reply: AppsChanged = self._call(
            "stopApp",
            {
                "name": name,
                "force": force,
                "timeout": timeout,
            },
            "AppsChanged",
        )
        return reply

    def upgrade(self) -> UpgradeStarted:
        """Replace the daemon's program in place: same pid, children kept running. (role:
        admin)
        """
        reply: UpgradeStarted = self._call(
            "upgrade",
            {},
            "UpgradeStarted",
        )
        return reply


class AsyncMethods:
    """Every method of the daemon, for the asyncio client (``procward.AsyncClient``)."""

    async def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        raise NotImplementedError

    def _follow(self, method: str, params: dict[str, Any]) -> AsyncStream:
        raise NotImplementedError

    async def addApp(
        self,
        *,
        name: str,
        spec: dict[str, Any],
        start: bool = True,
    ) -> AppsChanged:
        """Add an ad-hoc app (kept across restarts) from a procward.toml-shaped table. (role:
        admin)
        """
        reply: AppsChanged = await self._call(
            "addApp",
            {
                "name": name,
                "spec": spec,
                "start": start,
            },
            "AppsChanged",
        )
        return reply

    async def authenticate(
        self,
        *,
        token: str,
    ) -> dict[str, Any]:
        """Act with the role of ``token`` on this connection, until it expires. (role:
        anonymous)
        """
        reply: dict[str, Any] = await self._call(
            "authenticate",
            {
                "token": token,
            },
            None,
        )
        return reply

    async def createToken(
        self,
        *,
        role: str,
        ttl: str | float = "1h",
        subject: str | None = None,
    ) -> TokenCreated:
        """A token for the network: ``role`` viewer, operator or admin, valid ``ttl``. (role:
        admin)
        """
        reply: TokenCreated = await self._call(
            "createToken",
            {
                "role": role,
                "ttl": ttl,
                "subject": subject,
            },
            "TokenCreated",
        )
        return reply

    async def deleteApp(
        self,
        *,
        name: str,
    ) -> Deleted:
        """Stop an app and forget it; the reply names it (there is no app left to show). (role:
        admin)
        """
        reply: Deleted = await self._call(
            "deleteApp",
            {
                "name": name,
            },
            "Deleted",
        )
        return reply

    async def disableWatch(self) -> WatchStatus:
        """Stop watching every app until ``enableWatch``. (role: operator)"""
        reply: WatchStatus = await self._call(
            "disableWatch",
            {},
            "WatchStatus",
        )
        return reply

    async def enableWatch(
        self,
        *,
        apps: builtins.list[str] | None = None,
    ) -> WatchStatus:
        """Watch every app that has a ``watch`` key, or only ``apps``. (role: operator)"""
        reply: WatchStatus = await self._call(
            "enableWatch",
            {
                "apps": apps,
            },
            "WatchStatus",
        )
        return reply

    async def exec(
        self,
        *,
        name: str,
        command: str | None = None,
        args: builtins.list[str] | None = None,
        instance: int = 0,
        timeout: float | str = 600.0,
        stream: bool = False,
    ) -> ExecResult:
        """Run ``command`` of app ``name`` (plus ``args``), or ``args`` alone (admin). (role:
        operator)
        """
        reply: ExecResult = await self._call(
            "exec",
            {
                "name": name,
                "command": command,
                "args": args,
                "instance": instance,
                "timeout": timeout,
                "stream": stream,
            },
            "ExecResult",
        )
        return reply

    async def fleetAddress(
        self,
        *,
        node: str,
    ) -> FleetAddress:
        """Where node ``node`` listens, and a 60 s fleet token in the caller's own role. (role:
        viewer)
        """
        reply: FleetAddress = await self._call(
            "fleetAddress",
            {
                "node": node,
            },
            "FleetAddress",
        )
        return reply

    async def fleetDrain(
        self,
        *,
        node: str,
        drained: bool = True,
    ) -> FleetDrained:
        """Drain a node (its placed apps move away: stopped there, then started elsewhere), or
        undrain it with ``drained = false``. (role: admin)
        """
        reply: FleetDrained = await self._call(
            "fleetDrain",
            {
                "node": node,
                "drained": drained,
            },
            "FleetDrained",
        )
        return reply

    async def fleetStepDown(self) -> FleetLeader:
        """Ask the leader to give up its lease (at its next heartbeat); another is elected.
        (role: admin)
        """
        reply: FleetLeader = await self._call(
            "fleetStepDown",
            {},
            "FleetLeader",
        )
        return reply

    async def flushLogs(
        self,
        *,
        name: str | None = None,
    ) -> Flushed:
        """Empty the logs (of one app, or all) and delete their backups. (role: admin)"""
        reply: Flushed = await self._call(
            "flushLogs",
            {
                "name": name,
            },
            "Flushed",
        )
        return reply

    def followEvents(
        self,
        *,
        name: str | None = None,
    ) -> AsyncStream:
        """Stream new events as ``event`` notifications until the client hangs up. (role:
        viewer)
        """
        return self._follow(
            "followEvents",
            {
                "name": name,
            },
        )

    def followLogs(
        self,
        *,
        name: str | None = None,
        stream: str | None = None,
        instance: int | None = None,
        lines: int = 0,
        since: str | None = None,
    ) -> AsyncStream:
        """Stream new output as ``log`` notifications until the client hangs up. (role: viewer)"""
        return self._follow(
            "followLogs",
            {
                "name": name,
                "stream": stream,
                "instance": instance,
                "lines": lines,
                "since": since,
            },
        )

    async def getApp(
        self,
        *,
        name: str,
    ) -> AppView:
        """The ``getApp`` method. (role: viewer)"""
        reply: AppView = await self._call(
            "getApp",
            {
                "name": name,
            },
            "AppView",
        )
        return reply

    async def getAudit(
        self,
        *,
        limit: int = 100,
        since: float | str | None = None,
        name: str | None = None,
    ) -> builtins.list[AuditView]:
        """The newest ``limit`` entries (oldest first) of one method or all. (role: admin)"""
        reply: builtins.list[AuditView] = await self._call(
            "getAudit",
            {
                "limit": limit,
                "since": since,
                "name": name,
            },
            "list[AuditView]",
        )
        return reply

    async def getDependencyGraph(
        self,
        *,
        name: str | None = None,
    ) -> Graph:
        """Who depends on whom; with ``name``, what that app needs and what needs it. (role:
        viewer)
        """
        reply: Graph = await self._call(
            "getDependencyGraph",
            {
                "name": name,
            },
            "Graph",
        )
        return reply

    async def getEnv(
        self,
        *,
        name: str,
        instance: int = 0,
    ) -> dict[str, str]:
        """The environment an instance runs with; below admin, secret values read ``***``.
        (role: viewer)
        """
        reply: dict[str, str] = await self._call(
            "getEnv",
            {
                "name": name,
                "instance": instance,
            },
            None,
        )
        return reply

    async def getEvents(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        since: str | None = None,
    ) -> builtins.list[Event]:
        """What happened to the instances, most recent last (kept in memory). (role: viewer)"""
        reply: builtins.list[Event] = await self._call(
            "getEvents",
            {
                "name": name,
                "limit": limit,
                "since": since,
            },
            "list[Event]",
        )
        return reply

    async def getFleet(self) -> FleetView:
        """Every node of the fleet (state, leader, labels, version, apps, drained) and the
        assignments, read from Redis in one round trip. (role: viewer)
        """
        reply: FleetView = await self._call(
            "getFleet",
            {},
            "FleetView",
        )
        return reply

    async def getHealth(
        self,
        *,
        name: str | None = None,
    ) -> HealthReport:
        """Probe results per instance, and whether everything meant to run is well. (role:
        viewer)
        """
        reply: HealthReport = await self._call(
            "getHealth",
            {
                "name": name,
            },
            "HealthReport",
        )
        return reply

    async def getHooks(self) -> builtins.list[HookView]:
        """Each hook (by definition): its events, target, apps and delivery counts. (role:
        viewer)
        """
        reply: builtins.list[HookView] = await self._call(
            "getHooks",
            {},
            "list[HookView]",
        )
        return reply

    async def getLogs(
        self,
        *,
        name: str | None = None,
        lines: int = 100,
        stream: str | None = None,
        instance: int | None = None,
        since: str | None = None,
    ) -> builtins.list[LogEntry]:
        """The last ``lines`` lines of each matching log (current file and backups). (role:
        viewer)
        """
        reply: builtins.list[LogEntry] = await self._call(
            "getLogs",
            {
                "name": name,
                "lines": lines,
                "stream": stream,
                "instance": instance,
                "since": since,
            },
            "list[LogEntry]",
        )
        return reply

    async def getMetrics(
        self,
        *,
        name: str | None = None,
    ) -> MetricsReport:
        """CPU (% of one core) and memory (bytes) per instance and for the daemon. (role:
        viewer)
        """
        reply: MetricsReport = await self._call(
            "getMetrics",
            {
                "name": name,
            },
            "MetricsReport",
        )
        return reply

    async def getNetwork(self) -> NetworkView:
        """Where the daemon listens, each listener wanted and why it does not listen, TLS.
        (role: viewer)
        """
        reply: NetworkView = await self._call(
            "getNetwork",
            {},
            "NetworkView",
        )
        return reply

    async def getTrends(
        self,
        *,
        name: str | None = None,
        since: float | None = None,
    ) -> TrendsReport:
        """Each app's CPU and memory over the last minutes (60 samples), while sampling is on.
        (role: viewer)
        """
        reply: TrendsReport = await self._call(
            "getTrends",
            {
                "name": name,
                "since": since,
            },
            "TrendsReport",
        )
        return reply

    async def getUptime(
        self,
        *,
        name: str | None = None,
        days: int = 30,
    ) -> UptimeReport:
        """Per app and UTC day: seconds up, partly up and down while meant to run. (role:
        viewer)
        """
        reply: UptimeReport = await self._call(
            "getUptime",
            {
                "name": name,
                "days": days,
            },
            "UptimeReport",
        )
        return reply

    async def getWatchStatus(self) -> WatchStatus:
        """Per watched app: its paths, reloads caused by changes, and the last change. (role:
        viewer)
        """
        reply: WatchStatus = await self._call(
            "getWatchStatus",
            {},
            "WatchStatus",
        )
        return reply

    async def inspect(
        self,
        *,
        name: str,
        lines: int = 20,
    ) -> Inspection:
        """Everything about one app for a diagnosis, in one answer. (role: viewer)"""
        reply: Inspection = await self._call(
            "inspect",
            {
                "name": name,
                "lines": lines,
            },
            "Inspection",
        )
        return reply

    async def list(self) -> builtins.list[AppView]:
        """The ``list`` method. (role: viewer)"""
        reply: builtins.list[AppView] = await self._call(
            "list",
            {},
            "list[AppView]",
        )
        return reply

    async def listSecrets(self) -> SecretsReport:
        """Each secret's name, size, when and by whom it was set, and the apps that use it;
        never a value. ``readable`` false and ``problem`` when the store cannot be read.
        (role: viewer)
        """
        reply: SecretsReport = await self._call(
            "listSecrets",
            {},
            "SecretsReport",
        )
        return reply

    async def listTokens(self) -> builtins.list[TokenInfo]:
        """The tokens issued and not yet expired (never the tokens themselves), oldest first.
        (role: admin)
        """
        reply: builtins.list[TokenInfo] = await self._call(
            "listTokens",
            {},
            "list[TokenInfo]",
        )
        return reply

    async def loadConfig(
        self,
        *,
        path: str,
        start: bool = True,
    ) -> ConfigApplied:
        """Add or update the apps of a procward.toml; start those with autostart. (role: admin)"""
        reply: ConfigApplied = await self._call(
            "loadConfig",
            {
                "path": path,
                "start": start,
            },
            "ConfigApplied",
        )
        return reply

    async def ping(self) -> Ping:
        """The ``ping`` method. (role: anonymous)"""
        reply: Ping = await self._call(
            "ping",
            {},
            "Ping",
        )
        return reply

    async def reloadAll(self) -> AppsChanged:
        """Replace each instance of every app with a new process, one at a time. (role:
        operator)
        """
        reply: AppsChanged = await self._call(
            "reloadAll",
            {},
            "AppsChanged",
        )
        return reply

    async def reloadApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """Replace each instance with a new process, one at a time, without downtime. (role:
        operator)
        """
        reply: AppsChanged = await self._call(
            "reloadApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    async def reloadConfig(self) -> ConfigApplied:
        """Read every config file again and apply what changed (SIGHUP does the same). (role:
        admin)
        """
        reply: ConfigApplied = await self._call(
            "reloadConfig",
            {},
            "ConfigApplied",
        )
        return reply

    async def removeSecret(
        self,
        *,
        name: str,
    ) -> SecretRemoved:
        """Remove secret ``name``; apps that use it then fail to start, saying so. (role:
        admin)
        """
        reply: SecretRemoved = await self._call(
            "removeSecret",
            {
                "name": name,
            },
            "SecretRemoved",
        )
        return reply

    async def reopenLogs(self) -> dict[str, Any]:
        """Reopen every log file by name, after an external logrotate (also SIGUSR1). (role:
        operator)
        """
        reply: dict[str, Any] = await self._call(
            "reopenLogs",
            {},
            None,
        )
        return reply

    async def resetSecrets(self) -> SecretsReset:
        """Move a store that cannot be read aside (``secrets.enc.unreadable-<time>``) and start
        an empty one. Refused while the store is readable. (role: admin)
        """
        reply: SecretsReset = await self._call(
            "resetSecrets",
            {},
            "SecretsReset",
        )
        return reply

    async def restartAll(self) -> AppsChanged:
        """The ``restartAll`` method. (role: operator)"""
        reply: AppsChanged = await self._call(
            "restartAll",
            {},
            "AppsChanged",
        )
        return reply

    async def restartApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """The ``restartApp`` method. (role: operator)"""
        reply: AppsChanged = await self._call(
            "restartApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    async def resume(self) -> AppsChanged:
        """Start the apps the last stop of the daemon held down (what `procward up` does).
        (role: operator)
        """
        reply: AppsChanged = await self._call(
            "resume",
            {},
            "AppsChanged",
        )
        return reply

    async def revokeToken(
        self,
        *,
        id: str,
    ) -> TokenRevoked:
        """Refuse one token from now on (across restarts) and end its sessions. (role: admin)"""
        reply: TokenRevoked = await self._call(
            "revokeToken",
            {
                "id": id,
            },
            "TokenRevoked",
        )
        return reply

    async def rotateSecretsKey(self) -> SecretsKeyRotated:
        """Seal every secret with a new key, which replaces the key file. (role: admin)"""
        reply: SecretsKeyRotated = await self._call(
            "rotateSecretsKey",
            {},
            "SecretsKeyRotated",
        )
        return reply

    async def rotateTokens(self) -> KeyRotated:
        """A new signing key: every token issued so far is refused, its sessions ended. (role:
        admin)
        """
        reply: KeyRotated = await self._call(
            "rotateTokens",
            {},
            "KeyRotated",
        )
        return reply

    async def scale(
        self,
        *,
        name: str,
        instances: int,
    ) -> AppsChanged:
        """The ``scale`` method. (role: operator)"""
        reply: AppsChanged = await self._call(
            "scale",
            {
                "name": name,
                "instances": instances,
            },
            "AppsChanged",
        )
        return reply

    async def setMetricsEnabled(
        self,
        *,
        enabled: bool,
        interval: float | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Turn periodic sampling on or off (``interval`` seconds, default 5), or for one app.
        (role: admin)
        """
        reply: dict[str, Any] = await self._call(
            "setMetricsEnabled",
            {
                "enabled": enabled,
                "interval": interval,
                "name": name,
            },
            None,
        )
        return reply

    async def setNetwork(
        self,
        *,
        tcp: str | None = None,
        http: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
    ) -> NetworkView:
        """Listen on TCP and/or HTTP ("127.0.0.1:9700"); "" turns one off, null leaves it.
        (role: admin)
        """
        reply: NetworkView = await self._call(
            "setNetwork",
            {
                "tcp": tcp,
                "http": http,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "tls_client_ca": tls_client_ca,
            },
            "NetworkView",
        )
        return reply

    async def setSecret(
        self,
        *,
        name: str,
        value: str,
        encoding: str = "utf-8",
    ) -> SecretSet:
        """Set secret ``name``; ``value`` is text, or base64 with ``encoding="base64"`` (any
        bytes). At most 64 KiB; never recorded in the audit log. (role: admin)
        """
        reply: SecretSet = await self._call(
            "setSecret",
            {
                "name": name,
                "value": value,
                "encoding": encoding,
            },
            "SecretSet",
        )
        return reply

    async def shutdown(
        self,
        *,
        force: bool = False,
    ) -> dict[str, Any]:
        """Stop the daemon; the reply is sent before it stops. (role: admin)"""
        reply: dict[str, Any] = await self._call(
            "shutdown",
            {
                "force": force,
            },
            None,
        )
        return reply

    async def startAll(self) -> AppsChanged:
        """The ``startAll`` method. (role: operator)"""
        reply: AppsChanged = await self._call(
            "startAll",
            {},
            "AppsChanged",
        )
        return reply

    async def startApp(
        self,
        *,
        name: str,
    ) -> AppsChanged:
        """Start an app, and first the apps it depends on (the views: in start order). (role:
        operator)
        """
        reply: AppsChanged = await self._call(
            "startApp",
            {
                "name": name,
            },
            "AppsChanged",
        )
        return reply

    async def status(self) -> DaemonStatus:
        """The ``status`` method. (role: viewer)"""
        reply: DaemonStatus = await self._call(
            "status",
            {},
            "DaemonStatus",
        )
        return reply

    async def statusTable(self) -> StatusTable:
        """What the status command prints: the instances as columns, the whole view only of
        those with more to say (decision 0051). (role: viewer)
        """
        reply: StatusTable = await self._call(
            "statusTable",
            {},
            "StatusTable",
        )
        return reply

    async def stopAll(
        self,
        *,
        force: bool = False,
        timeout: float | None = None,
    ) -> AppsChanged:
        """The ``stopAll`` method. (role: operator)"""
        reply: AppsChanged = await self._call(
            "stopAll",
            {
                "force": force,
                "timeout": timeout,
            },
            "AppsChanged",
        )
        return reply

    async def stopApp(
        self,
        *,
        name: str,
        force: bool = False,
        timeout: float | None = None,
    ) -> AppsChanged:
        """Stop an app, and first the apps that depend on it (they cannot run without it).
        (role: operator)
        """
        reply: AppsChanged = await self._call(
            "stopApp",
            {
                "name": name,
                "force": force,
                "timeout": timeout,
            },
            "AppsChanged",
        )
        return reply

    async def upgrade(self) -> UpgradeStarted:
        """Replace the daemon's program in place: same pid, children kept running. (role:
        admin)
        """
        reply: UpgradeStarted = await self._call(
            "upgrade",
            {},
            "UpgradeStarted",
        )
        return reply
