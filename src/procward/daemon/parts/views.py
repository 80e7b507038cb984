"""``Views``: status, statusTable, list, getApp, inspect, getEnv, getHealth, getDependencyGraph.

Also the HTTP pages that are views too: ``GET /health`` (200, or 503 while
an app meant to run does not) and ``GET /metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.kit import _fastjson as fastjson
from procward.kit._errors import NotFound
from procward.kit._rpc import CallContext, Peer, Role, method
from procward.supervision import graph

if TYPE_CHECKING:
    from procward.daemon.parts.audit import Audit
    from procward.daemon.parts.logs import Logs
    from procward.daemon.parts.metrics import Metrics
    from procward.daemon.parts.network import NetworkSettings
    from procward.dashboard.site import Site
    from procward.kit._daemon import Daemon
    from procward.kit._http import HttpServer, Reply, Stream
    from procward.kit._rpc import Registry
    from procward.supervision.app import App
    from procward.supervision.supervisor import Supervisor


class Views:
    """``status``, ``list``, ``getApp``, ``inspect``, ``getEnv``, ``getHealth``, the graph.

    ``about`` describes the daemon itself (pid, version, paths, connections,
    addresses, listeners) for ``status``; ``warnings`` is what an operator
    must hear of (a state that cannot be saved...).
    """

    def __init__(
        self,
        sup: Supervisor,
        metrics: Metrics,
        logs: Logs,
        *,
        about: Callable[[], dict[str, Any]],
        warnings: Callable[[], list[str]],
    ) -> None:
        self.sup = sup
        self.metrics = metrics
        self.logs = logs
        self.about = about
        self.warnings = warnings

    @method(Role.VIEWER, result="DaemonStatus")
    def status(self, ctx: CallContext) -> dict[str, Any]:
        apps = self.sup.summaries()
        return {
            "daemon": self.about(),
            "apps": apps,
            "healthy": all(app["healthy"] for app in apps),
            "warnings": self.warnings(),  # a state it cannot save...: exit status 1
        }

    @method(Role.VIEWER, result="StatusTable")
    def statusTable(self, ctx: CallContext) -> dict[str, Any]:
        """What the status command prints: the instances as columns, the whole view only
        of those with more to say (decision 0051)."""
        apps = list(self.sup.apps.values())
        return {
            "daemon": self.about(),
            "instances": instance_table(apps),
            "healthy": all(app.healthy() for app in apps),
            "warnings": self.warnings(),
        }

    @method(Role.VIEWER, name="list", result="list[AppView]")
    def list_apps(self, ctx: CallContext) -> list[dict[str, Any]]:
        return self.sup.summaries()

    @method(Role.VIEWER, result="AppView")
    def getApp(self, ctx: CallContext, name: str) -> dict[str, Any]:
        app = self.sup.app(name)
        return {**app.summary(), "spec": spec_for(ctx.peer, app)}

    @method(Role.VIEWER, result="Inspection")
    async def inspect(self, ctx: CallContext, name: str, lines: int = 20) -> dict[str, Any]:
        """Everything about one app for a diagnosis, in one answer.

        Its definition and where it came from, each instance's state, exit,
        restarts, probe results and CPU/memory (measured now), the environment
        instance 0 runs with (secrets masked below admin, named in
        ``env_masked``), whether it is watched, when it is next recycled
        (``cron_restart``, ``max_age``), and the last ``lines`` lines of each
        of its logs.
        """
        app = self.sup.app(name)
        metrics = await self.metrics.getMetrics(ctx, name=name)
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
            "recycling": self.sup.recycling(app),
            "logs": await self.logs.getLogs(ctx, name=name, lines=min(max(lines, 0), 1000)),
        }

    @method(Role.VIEWER)
    def getEnv(self, ctx: CallContext, name: str, instance: int = 0) -> dict[str, str]:
        """The environment an instance runs with; below admin, secret values read ``***``.

        An app's secrets read ``<secret:NAME>`` for everyone: views never read the store.
        """
        app = self.sup.app(name)
        if not 0 <= instance < max(1, app.spec.instances):
            raise NotFound(f"{name} has no instance {instance} (it has {app.spec.instances})")
        return env_for(ctx.peer, self.sup.launch(app.spec, instance).env)[0]

    @method(Role.VIEWER, result="HealthReport")
    def getHealth(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Probe results per instance, and whether everything meant to run is well.

        Well means running (or done cleanly) and no check failing: a health
        check that failed last counts before it has failed often enough for
        a restart; a new process that is not ready yet does not.
        """
        return health_report(self.sup, name)

    @method(Role.VIEWER, result="Graph")
    def getDependencyGraph(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Who depends on whom; with ``name``, what that app needs and what needs it."""
        if name is None:
            return self.sup.graph()
        self.sup.app(name)  # NotFound, with the known names
        return dict(graph.as_graph(graph.around(self.sup.dependencies(), name)))


# The dashboard's paths (``procward.dashboard.site``): the page needs no token, its data does.
DASHBOARD = (
    ("/", Role.ANONYMOUS),
    ("/app/", Role.ANONYMOUS),
    ("/assets/", Role.ANONYMOUS),
    ("/events/stream", Role.VIEWER),
    ("/logs/stream", Role.VIEWER),
)


class HttpPages:
    """The HTTP listener's pages beyond ``POST /rpc``, audited like its calls.

    The dashboard is loaded at its first request, not before: a daemon that
    serves HTTP to Prometheus alone never imports it.
    """

    def __init__(self, sup: Supervisor, metrics: Metrics, audit: Audit) -> None:
        self.sup = sup
        self.metrics = metrics
        self.audit = audit
        self.dashboard: Site | None = None
        self.registry: Registry | None = None

    def add_routes(self, http: HttpServer) -> None:
        http.auditor = self.audit.record
        http.route("GET", "/metrics", Role.VIEWER, self.metrics.metrics_page)
        http.route("GET", "/health", Role.VIEWER, self.health_page)
        self.registry = http.registry
        for path, role in DASHBOARD:
            http.page(path, role, self.dashboard_page)

    async def dashboard_page(self, peer: Peer, target: str) -> Reply | Stream:
        if self.dashboard is None:
            from procward.dashboard.site import Site

            assert self.registry is not None, "routes are added before they are asked for"
            self.dashboard = Site(self.registry)
        return await self.dashboard.respond(peer, target)

    async def health_page(self, peer: Peer, body: bytes) -> Reply:
        """``GET /health``: 200 when every app meant to run runs, else 503 (for probes)."""
        from procward.kit._http import Reply

        health = health_report(self.sup, None)
        return Reply(200 if health["healthy"] else 503, fastjson.dumps(health).encode())


def daemon_view(
    daemon: Daemon, network: NetworkSettings, cgroups: dict[str, object]
) -> dict[str, Any]:
    """The daemon itself, as ``status`` shows it."""
    return {
        "pid": daemon.pid,
        "version": daemon.version,
        "instance": daemon.paths.instance,
        "started_at": daemon.started_at,
        "uptime": round(time.time() - daemon.started_at, 3),
        "connections": len(daemon.server.connections),
        # Held per pool (decision 0026), HTTP included: is a flood filling one?
        "pools": {pool.value: n for pool, n in daemon.server.admission.counts.items()},
        "paths": daemon.paths.as_dict(),
        "addresses": daemon.addresses(),
        "network": network.network_view(),  # listeners wanted, and why one does not listen
        "cgroups": cgroups,  # in use where, with which controllers; or why not
    }


# An instance's fields that ``statusTable`` sends as its columns; the view of an
# instance with nothing more to say has only these, the process's identity (which the
# table never shows) and the fields that are None until there is something to say.
_COLUMNS = ("app", "index", "state", "pid", "started_at", "restarts")
_QUIET = frozenset({*_COLUMNS[1:], "starttime", "boot_id", "error", "exit_code", "exit_signal"})


def instance_table(apps: list[App]) -> dict[str, Any]:
    """``statusTable``'s ``instances`` (the record ``InstanceTable``).

    Made as rows, then turned into columns at C speed: 2,000 instances cost a few
    milliseconds, most of them ``Instance.snapshot``.
    """
    rows: list[tuple[Any, ...]] = []
    details: dict[str, dict[str, object]] = {}
    for app in apps:
        name, instances, failed = app.name, app.instances, bool(app.last_error)
        if not instances:  # one row that says so, its cells empty
            rows.append((name, None, None, None, None, None))
        for inst in instances:
            view = inst.snapshot()
            if failed or _more_to_say(view):
                details[str(len(rows))] = view
            rows.append(
                (
                    name,
                    view["index"],
                    view["state"],
                    view["pid"],
                    view["started_at"],
                    view["restarts"],
                )
            )
    columns = zip(*rows, strict=True) if rows else ([] for _ in _COLUMNS)
    return {
        **{key: list(column) for key, column in zip(_COLUMNS, columns, strict=True)},
        "details": details,
        "errors": {app.name: app.last_error for app in apps if app.last_error},
        "held": [app.name for app in apps if app.held],
    }


def _more_to_say(view: dict[str, object]) -> bool:
    said = view["error"] is not None or view["exit_code"] is not None
    return said or view["exit_signal"] is not None or not view.keys() <= _QUIET


def health_report(sup: Supervisor, name: str | None) -> dict[str, Any]:
    """``getHealth``'s answer: per app, and whether all of them are well."""
    apps = [sup.app(name)] if name else list(sup.apps.values())
    reports = [health_of(app) for app in apps]
    return {"apps": reports, "healthy": all(report["healthy"] for report in reports)}


def env_for(peer: Peer, env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What ``peer`` may see of ``env``, and the names masked (decision 0029).

    Below admin, values whose names look secret and passwords in URLs are
    masked: a viewer or an operator needs to know a variable is set, not
    the credential in it.
    """
    if peer.role >= Role.ADMIN:
        return env, []
    from procward.kit._masking import masked_env

    return masked_env(env)


def spec_for(peer: Peer, app: App) -> dict[str, Any]:
    """An app's definition as ``peer`` may see it: ``env`` masked as ``env_for``, hooks too."""
    table = app.spec.to_table()
    if isinstance(table.get("env"), dict):
        table["env"] = env_for(peer, table["env"])[0]
    if "hooks" in table and peer.role < Role.ADMIN:
        from procward.supervision.hooks import masked

        table["hooks"] = masked(table["hooks"])
    return table


def health_of(app: App) -> dict[str, Any]:
    """``app.health()``, not well while one of its checks fails."""
    report = app.health()
    failing = app.desired and any(_failing(inst) for inst in report["instances"])
    return {**report, "healthy": report["healthy"] and not failing}


def _failing(inst: dict[str, Any]) -> bool:
    starting = inst["check"] == "ready" and inst["state"] == "starting"
    return inst.get("passing") is False and not starting
