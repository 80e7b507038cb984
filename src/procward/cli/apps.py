"""Commands about apps: health, start, stop, restart, reload, delete, scale, exec, env…"""

from __future__ import annotations

import os
import sys

from procward.cli import render
from procward.cli.connection import connect, fail
from procward.cli.options import (
    AppArgs,
    AppsArgs,
    AuditArgs,
    EnvArgs,
    ExecArgs,
    Globals,
    InspectArgs,
    MetricsArgs,
    NetworkArgs,
    PromptArgs,
    ScaleArgs,
    StartArgs,
    StopArgs,
    TokenArgs,
    UptimeArgs,
    WatchArgs,
)
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any

    from procward.kit._client import Client
    from procward.reports import ExecResult


def cmd_start(args: StartArgs, paths: InstancePaths) -> int:
    if args.cmd or args.app_name:
        return _start_adhoc(args, paths)
    if not args.name:
        return fail("start what? give an app name, all, or --name NAME -- COMMAND", 2)
    with connect(paths) as client:
        reply = client.call(*_one_or_all("start", args.name))
    return _show_changed(args, reply)


def _one_or_all(verb: str, name: str) -> tuple[str, dict[str, object]]:
    """The method and params of ``verb`` for app ``name``, or for every app: ``all``."""
    return (f"{verb}All", {}) if name == "all" else (f"{verb}App", {"name": name})


def _start_adhoc(args: StartArgs, paths: InstancePaths) -> int:
    if not args.cmd:
        return fail("nothing to run: put the command after --", 2)
    name = args.app_name or args.name or os.path.basename(args.cmd[0])
    spec: dict[str, object] = {
        # Exactly these arguments, as `env` or `nohup` would run them: the shell
        # that ran `procward start` expanded what it meant to ($$: no second pass).
        "cmd": [arg.replace("$", "$$") for arg in args.cmd],
        "cwd": os.path.abspath(args.cwd or "."),
        "instances": args.instances,
        "restart": args.restart,
    }
    env = {}
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            return fail(f"--env wants KEY=VALUE, got {pair!r}", 2)
        env[key] = value
    if env:
        spec["env"] = env
    with connect(paths) as client:
        added = client.call("addApp", name=name, spec=spec)
    return _show_changed(args, added)


def _show_changed(args: Globals, reply: object) -> int:
    """A lifecycle method's reply (``AppsChanged``) as a table, or with --json as received.

    1 if one of the apps is unwell.
    """
    from procward.replies import AppsChanged

    apps = AppsChanged.from_dict(reply).apps
    if args.json:
        render.as_json(reply)
    else:
        render.app_table(apps)
    return 0 if all(app.healthy for app in apps) else 1


def cmd_stop(args: StopArgs, paths: InstancePaths) -> int:
    method, params = _one_or_all("stop", args.name)
    params["force"] = args.force
    if args.timeout is not None:
        params["timeout"] = args.timeout
    with connect(paths) as client:
        reply = client.call(method, params)
    shown = _show_changed(args, reply)
    return shown if args.name == "all" else 0  # one app stopped as asked: done


def cmd_restart(args: AppArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        reply = client.call(*_one_or_all("restart", args.name))
    return _show_changed(args, reply)


def cmd_reload(args: AppsArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.name is not None:
            reply = client.call(*_one_or_all("reload", args.name))
            return _show_changed(args, reply)
        reply = client.call("reloadConfig")
    from procward.replies import ConfigApplied

    applied = ConfigApplied.from_dict(reply)
    if args.json:
        render.as_json(reply)
        return 0
    for result in applied.files:
        print(f"{result.source}:")
        render.changes(result, indent="  ")
    if not applied.files:
        print("no config files to reload (apps added with `up -c FILE` come from one)")
    render.app_table(applied.apps)
    return 0


def cmd_metrics(args: MetricsArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.on or args.off:
            switch: dict[str, object] = {"enabled": bool(args.on), "interval": args.interval}
            if args.name:  # that app only, or not that one any more
                switch["name"] = args.name
            client.call("setMetricsEnabled", switch)
        metrics = client.call("getMetrics", name=args.name)
    from procward.reports import MetricsReport

    render.show(metrics, MetricsReport.from_dict, render.metrics_table, json=args.json)
    return 0


def cmd_delete(args: AppArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        reply = client.call("deleteApp", name=args.name)
    from procward.replies import Deleted

    deleted = Deleted.from_dict(reply)
    if args.json:
        render.as_json(reply)
    else:
        print(f"deleted {deleted.deleted}")
    return 0


def cmd_scale(args: ScaleArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        reply = client.call("scale", name=args.name, instances=args.count)
    return _show_changed(args, reply)


def cmd_env(args: EnvArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        env = client.call("getEnv", name=args.name, instance=args.index)
    if args.json:  # the variables under "env": a key of theirs cannot meet ours
        render.as_json({"name": args.name, "instance": args.index, "env": env})
    else:
        for key in sorted(env):
            print(f"{key}={env[key]}")
    return 0


def cmd_exec(args: ExecArgs, paths: InstancePaths) -> int:
    """Run a one-off command in an app's environment; exit with its status.

    The output streams as it comes (with --json: all of it in the result).
    Exit status as a shell's: the command's own, 128+N when killed by
    signal N, 124 on timeout (as timeout(1)), 127 when it could not start.
    """
    from procward.reports import ExecResult

    params: dict[str, object] = {"name": args.name, "instance": args.index}
    if args.command:
        params["command"] = args.command
    if args.cmd:
        params["args"] = args.cmd
    if args.timeout is not None:
        params["timeout"] = args.timeout
    with connect(paths) as client:
        if args.json:
            reply = client.call("exec", params)
            result = ExecResult.from_dict(reply)
            render.as_json(reply)
        else:
            try:
                result = _stream_exec(client, params)
            except KeyboardInterrupt:  # closing the connection stops the command
                return 130
    if result.timed_out:
        render.warn(f"procward: {result.error}")
        return 124
    if result.code is None and result.signal is None:
        render.warn(f"procward: {result.error}")
        return 127
    if result.signal is not None:
        return 128 + signal_number(result.signal)
    return int(result.code or 0)


def _stream_exec(client: Client, params: dict[str, object]) -> ExecResult:
    from procward.reports import ExecResult

    outputs = {"out": sys.stdout, "err": sys.stderr}
    calls = client.stream("exec", {**params, "stream": True})
    while True:
        try:
            method, chunk = next(calls)
        except StopIteration as done:
            return ExecResult.from_dict(done.value)
        if method == "output":
            out = outputs[chunk["stream"]]
            out.write(chunk["data"])
            out.flush()


def signal_number(name: str) -> int:
    """The number of a signal the daemon names (``TERM``, or digits); 0 if none."""
    from procward.kit import _signals as signals

    try:
        return signals.number(name)
    except ValueError:
        return 0


def cmd_uptime(args: UptimeArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        report = client.call("getUptime", name=args.name, days=args.days)
    from procward.reports import UptimeReport

    render.show(report, UptimeReport.from_dict, render.uptime_table, json=args.json)
    return 0


def cmd_graph(args: AppsArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        graph = client.call("getDependencyGraph", **({"name": args.name} if args.name else {}))
    from procward.reports import Graph

    render.show(graph, Graph.from_dict, render.graph, json=args.json)
    return 0


def cmd_health(args: AppsArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        reply = client.call("getHealth", name=args.name)
    from procward.reports import HealthReport

    health = HealthReport.from_dict(reply)
    if args.json:
        render.as_json(reply)
    else:
        render.health_table(health.apps)
    return 0 if health.healthy else 1


def cmd_token(args: TokenArgs, paths: InstancePaths) -> int:
    needs = {
        "create": "a role: viewer, operator or admin",
        "revoke": "the token's id (see procward token list)",
    }
    if args.action in needs and args.what is None:
        return fail(f"token {args.action} needs {needs[args.action]}", 2)
    from procward.replies import list_from
    from procward.reports import KeyRotated, TokenCreated, TokenInfo, TokenRevoked

    with connect(paths) as client:
        if args.action == "rotate":
            rotated = client.call("rotateTokens")
            ended = KeyRotated.from_dict(rotated).sessions_ended
            if args.json:
                render.as_json(rotated)
                return 0
            print(f"new signing key: every token issued before is refused; {ended} sessions ended")
            return 0
        if args.action == "list":
            tokens = client.call("listTokens")
            render.show(
                tokens, lambda r: list_from(TokenInfo, r), render.token_table, json=args.json
            )
            return 0
        if args.action == "revoke":
            reply = client.call("revokeToken", id=args.what)
            revoked = TokenRevoked.from_dict(reply)
            if args.json:
                render.as_json(reply)
                return 0
            print(f"revoked {revoked.id}; {revoked.sessions_ended} sessions ended")
            return 0
        reply = client.call("createToken", role=args.what, ttl=args.ttl, subject=args.subject)
    made = TokenCreated.from_dict(reply)
    if args.json:
        render.as_json(reply)
    else:
        print(made.token)
    return 0


def cmd_network(args: NetworkArgs, paths: InstancePaths) -> int:
    """Set or show the listeners; TLS asked of a daemon started without it upgrades it."""
    from procward.replies import NetworkView

    with connect(paths) as client:
        reply = client.call(*_network_call(args))
    view = NetworkView.from_dict(reply)
    if view.tls is not None and view.tls.restart and not os.environ.get("PROCWARD_CONNECT"):
        from procward.cli.daemon import upgrade_in_place

        said = "restarting the daemon in place to serve TLS (the apps keep running)"
        if args.json:
            render.warn(said)
        else:
            print(said)
        code = upgrade_in_place(paths, 30.0, show="nothing" if args.json else "text")
        if code != 0:
            return code
        with connect(paths, spawn=False) as client:
            reply = client.call("getNetwork")
        view = NetworkView.from_dict(reply)
    if args.json:
        render.as_json(reply)
    else:
        for line in render.network(view):
            print(line)
    return 0 if view.tls is None or view.tls.serving else 1


def _network_call(args: NetworkArgs) -> tuple[str, dict[str, Any]]:
    """``setNetwork`` with what the options change, or ``getNetwork`` when none does."""
    params: dict[str, Any] = {"tcp": "", "http": ""} if args.off else {}
    params.update({k: v for k, v in (("tcp", args.tcp), ("http", args.http)) if v})
    files = [("tls_cert", args.tls_cert), ("tls_key", args.tls_key)]
    files.append(("tls_client_ca", args.tls_client_ca))
    params.update({key: os.path.abspath(path) for key, path in files if path})
    if args.no_tls:
        params["tls_cert"] = ""
    return ("setNetwork", params) if params else ("getNetwork", {})


def cmd_audit(args: AuditArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        entries = client.call("getAudit", limit=args.lines, since=args.since, name=args.method)
    from procward.replies import list_from
    from procward.reports import AuditView

    render.show(entries, lambda r: list_from(AuditView, r), render.audit_table, json=args.json)
    return 0


def cmd_inspect(args: InspectArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        reply = client.call("inspect", name=args.name, lines=args.lines)
    from procward.reports import Inspection

    found = render.show(reply, Inspection.from_dict, render.inspection, json=args.json)
    return 0 if found.healthy else 1


def cmd_prompt(args: PromptArgs, paths: InstancePaths) -> int:
    """For PS1 and status bars: the daemon's status file, without calling the daemon."""
    from procward.kit import _fastjson as fastjson

    path = os.path.join(paths.runtime_dir, "status.json")
    try:
        with open(path, "rb") as f:
            status = fastjson.loads(f.read())
        os.kill(int(status["pid"]), 0)  # a file left by a daemon that died is no answer
    except (OSError, ValueError, KeyError, TypeError):
        if args.always and not args.json:
            print("procward: not running")
        return 3
    if args.json:
        render.as_json(status)
    elif not status["healthy"] or args.always:
        # Every instance not counted as running is accounted for by a name.
        why = [
            f"{', '.join(status[key])} {key}"
            for key in ("down", "exited", "starting")
            if status.get(key)
        ]
        said = f" ({', '.join(why)})" if why else ""
        print(f"procward: {status['running']}/{status['wanted']}{said}")
    return 0 if status["healthy"] else 1


def cmd_watch(args: WatchArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.off:
            status = client.call("disableWatch")
        elif args.on:
            status = client.call("enableWatch", apps=args.names or None)
        else:
            status = client.call("getWatchStatus")
    from procward.reports import WatchStatus

    render.show(status, WatchStatus.from_dict, render.watch_table, json=args.json)
    return 0
