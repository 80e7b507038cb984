"""The daemon's read-only methods: status, list, getApp, inspect, getEnv, getHealth, graph.

Also the HTTP pages that are views too: ``GET /health`` (200, or 503 while
an app meant to run does not) and ``GET /metrics``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from procward.kit import fastjson
from procward.kit.errors import NotFound
from procward.kit.rpc import CallContext, Peer, Role, method
from procward.supervision import graph

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from procward.kit.http import HttpServer, Reply
    from procward.kit.paths import InstancePaths
    from procward.kit.server import RpcServer
    from procward.supervision.app import App
    from procward.supervision.supervisor import Supervisor


class ViewMethods:
    """Mixed into ``ProcwardDaemon``, which provides the rest."""

    if TYPE_CHECKING:
        pid: int
        version: ClassVar[str]
        paths: InstancePaths
        started_at: float
        server: RpcServer

        @property
        def sup(self) -> Supervisor: ...

        def addresses(self) -> dict[str, str]: ...
        def daemon_warnings(self) -> list[str]: ...
        def network_view(self) -> dict[str, dict[str, str | None]]: ...
        async def getMetrics(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]: ...

        getLogs: Callable[..., Coroutine[Any, Any, list[dict[str, Any]]]]  # LogMethods'

        def audit_call(self, *args: Any) -> None: ...
        async def metrics_page(self, peer: Peer, body: bytes) -> Reply: ...

    @method(Role.VIEWER)
    def status(self, ctx: CallContext) -> dict[str, Any]:
        apps = self.sup.summaries()
        return {
            "daemon": {
                "pid": self.pid,
                "version": self.version,
                "instance": self.paths.instance,
                "started_at": self.started_at,
                "uptime": round(time.time() - self.started_at, 3),
                "connections": len(self.server.connections),
                # Held per pool (decision 0026), HTTP included: is a flood filling one?
                "pools": {pool.value: n for pool, n in self.server.admission.counts.items()},
                "paths": self.paths.as_dict(),
                "addresses": self.addresses(),
                "network": self.network_view(),  # listeners wanted, and why one does not listen
            },
            "apps": apps,
            "healthy": all(app["healthy"] for app in apps),
            "warnings": self.daemon_warnings(),  # a state it cannot save...: exit status 1
        }

    @method(Role.VIEWER, name="list")
    def list_apps(self, ctx: CallContext) -> list[dict[str, Any]]:
        return self.sup.summaries()

    @method(Role.VIEWER)
    def getApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        app = self.sup.app(name)
        return {**app.summary(), "spec": spec_for(ctx.peer, app)}

    @method(Role.VIEWER)
    async def inspect(self, ctx: CallContext, name: str, lines: int = 20) -> dict[str, Any]:
        """Everything about one app for a diagnosis, in one answer.

        Its definition and where it came from, each instance's state, exit,
        restarts, probe results and CPU/memory (measured now), the environment
        instance 0 runs with (secrets masked below admin, named in
        ``env_masked``), whether it is watched, and the last ``lines`` lines
        of each of its logs.
        """
        app = self.sup.app(name)
        metrics = await self.getMetrics(ctx, name=name)
        watched = self.sup.watching.status()["apps"] if app.spec.watch is not None else []
        health = health_of(app)
        env, hidden = env_for(ctx.peer, self.sup.launch(app.spec, 0).env)
        return {
            **app.summary(),
            "healthy": health["healthy"],
            "spec": spec_for(ctx.peer, app),
            "health": health,
            "usage": metrics["apps"][0]["instances"],
            "env": env,
            "env_masked": hidden,
            "watch": next((w for w in watched if w["name"] == name), None),
            "logs": await self.getLogs(ctx, name=name, lines=min(max(lines, 0), 1000)),
        }

    @method(Role.VIEWER)
    def getEnv(self, ctx: CallContext, name: str, instance: int = 0) -> dict[str, str]:
        """The environment an instance runs with; below admin, secret values read ``***``."""
        app = self.sup.app(name)
        if not 0 <= instance < max(1, app.spec.instances):
            raise NotFound(f"{name} has no instance {instance} (it has {app.spec.instances})")
        return env_for(ctx.peer, self.sup.launch(app.spec, instance).env)[0]

    @method(Role.VIEWER)
    def getHealth(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Probe results per instance, and whether everything meant to run is well.

        Well means running (or done cleanly) and no check failing: a health
        check that failed last counts before it has failed often enough for
        a restart; a new process that is not ready yet does not.
        """
        apps = [self.sup.app(name)] if name else list(self.sup.apps.values())
        reports = [health_of(app) for app in apps]
        return {"apps": reports, "healthy": all(report["healthy"] for report in reports)}

    def add_http_routes(self, http: HttpServer) -> None:
        http.auditor = self.audit_call
        http.route("GET", "/metrics", Role.VIEWER, self.metrics_page)
        http.route("GET", "/health", Role.VIEWER, self._health_page)

    async def _health_page(self, peer: Peer, body: bytes) -> Reply:
        """``GET /health``: 200 when every app meant to run runs, else 503 (for probes)."""
        from procward.kit.http import Reply

        health = self.getHealth(CallContext(peer, _no_stream))
        return Reply(200 if health["healthy"] else 503, fastjson.dumps(health).encode())

    @method(Role.VIEWER)
    def getDependencyGraph(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Who depends on whom; with ``name``, what that app needs and what needs it."""
        if name is None:
            return self.sup.graph()
        self.sup.app(name)  # NotFound, with the known names
        return dict(graph.as_graph(graph.around(self.sup.dependencies(), name)))


def env_for(peer: Peer, env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What ``peer`` may see of ``env``, and the names masked (decision 0029).

    Below admin, values whose names look secret and passwords in URLs are
    masked: a viewer or an operator needs to know a variable is set, not
    the credential in it.
    """
    if peer.role >= Role.ADMIN:
        return env, []
    from procward.kit.masking import masked_env

    return masked_env(env)


def spec_for(peer: Peer, app: App) -> dict[str, Any]:
    """An app's definition as ``peer`` may see it: its ``env`` table masked as ``env_for``."""
    table = app.spec.to_table()
    if isinstance(table.get("env"), dict):
        table["env"] = env_for(peer, table["env"])[0]
    return table


def health_of(app: App) -> dict[str, Any]:
    """``app.health()``, not well while one of its checks fails."""
    report = app.health()
    failing = app.desired and any(_failing(inst) for inst in report["instances"])
    return {**report, "healthy": report["healthy"] and not failing}


def _failing(inst: dict[str, Any]) -> bool:
    starting = inst["check"] == "ready" and inst["state"] == "starting"
    return inst.get("passing") is False and not starting


async def _no_stream(method: str, params: Any) -> None:
    raise RuntimeError("no stream here")
