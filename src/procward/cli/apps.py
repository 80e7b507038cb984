"""Commands about apps: status, health, start, stop, restart, reload, delete, scale, exec, env…"""

from __future__ import annotations

import os
import sys

from procward.cli import render
from procward.cli.args import Namespace
from procward.cli.connection import connect, fail
from procward.kit.paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any

    from procward.kit.client import Client


def cmd_status(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.name:
            apps = [client.call("getApp", name=args.name)]
            status = {"apps": apps, "healthy": apps[0]["healthy"]}
        else:
            status = client.call("status")
        told = set(client.start_warnings)  # printed already, by `connect`
    if args.json:
        render.as_json(status)
    elif not args.name:
        daemon = status["daemon"]
        uptime = render.duration(daemon["uptime"])
        print(f"procward {daemon['version']} (pid {daemon['pid']}, up {uptime}), {paths.instance}")
        for line in render.listeners(daemon, problems_only=True):
            print(line)
        render.app_table(status["apps"])
    else:
        render.app_table(status["apps"])
    held = [app["name"] for app in status["apps"] if app.get("held")]
    if held and not args.json:
        print(f"held down since `procward down`: {', '.join(held)} (`procward up` starts them)")
    warnings = status.get("warnings") or []
    if not args.json:
        for text in (w for w in warnings if w not in told):
            sys.stderr.write(f"procward: warning: {text}\n")
    # Non-zero when something meant to run is not running, or the daemon warns (a
    # state it cannot save): scripts and CI can rely on it.
    return 0 if status.get("healthy", True) and not warnings else 1


def cmd_start(args: Namespace, paths: InstancePaths) -> int:
    if args.cmd or args.app_name:
        return _start_adhoc(args, paths)
    if not args.name:
        return fail("start what? give an app name, all, or --name NAME -- COMMAND", 2)
    method = "startAll" if args.name == "all" else "startApp"
    with connect(paths) as client:
        client.call(method, **({} if args.name == "all" else {"name": args.name}))
        apps = client.call("status")["apps"]
    return _show(args, apps, args.name)


def _start_adhoc(args: Namespace, paths: InstancePaths) -> int:
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
        client.call("addApp", name=name, spec=spec)
        apps = client.call("status")["apps"]
    return _show(args, apps, name)


def _show(args: Namespace, apps: list[dict[str, object]], name: str) -> int:
    chosen = apps if name == "all" else [a for a in apps if a["name"] == name]
    render.show(chosen, render.app_table, json=args.json)
    return 0 if all(a["healthy"] for a in chosen) else 1


def cmd_stop(args: Namespace, paths: InstancePaths) -> int:
    params: dict[str, object] = {"name": args.name, "force": args.force}
    if args.timeout is not None:
        params["timeout"] = args.timeout
    with connect(paths) as client:
        stopped = client.call("stopApp", params).get("stopped", [args.name])
        apps = client.call("status")["apps"]
    if args.name == "all":
        return _show(args, apps, "all")
    render.show([a for a in apps if a["name"] in stopped], render.app_table, json=args.json)
    return 0


def cmd_restart(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        client.call("restartApp", name=args.name)
        apps = client.call("status")["apps"]
    return _show(args, apps, args.name)


def cmd_reload(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.name is None:
            results = client.call("reloadConfig")
        else:
            client.call("reloadApp", name=args.name)
        apps = client.call("status")["apps"]
    if args.name is not None:
        return _show(args, apps, args.name)
    if args.json:
        render.as_json(results)
        return 0
    for result in results:
        print(f"{result['source']}:")
        render.changes(result, indent="  ")
    if not results:
        print("no config files to reload (apps added with `up -c FILE` come from one)")
    render.app_table(apps)
    return 0


def cmd_metrics(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.on or args.off:
            switch: dict[str, object] = {"enabled": bool(args.on), "interval": args.interval}
            if args.name:  # that app only, or not that one any more
                switch["name"] = args.name
            client.call("setMetricsEnabled", switch)
        metrics = client.call("getMetrics", name=args.name)
    render.show(metrics, render.metrics_table, json=args.json)
    return 0


def cmd_delete(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        client.call("deleteApp", name=args.name)
    print(f"deleted {args.name}")
    return 0


def cmd_scale(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        app = client.call("scale", name=args.name, instances=args.count)
    return _show(args, [app], args.name)


def cmd_env(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        env = client.call("getEnv", name=args.name, instance=args.index)
    if args.json:
        render.as_json(env)
    else:
        for key in sorted(env):
            print(f"{key}={env[key]}")
    return 0


def cmd_exec(args: Namespace, paths: InstancePaths) -> int:
    """Run a one-off command in an app's environment; exit with its status.

    The output streams as it comes (with --json: all of it in the result).
    Exit status as a shell's: the command's own, 128+N when killed by
    signal N, 124 on timeout (as timeout(1)), 127 when it could not start.
    """
    params: dict[str, object] = {"name": args.name, "instance": args.index}
    if args.command:
        params["command"] = args.command
    if args.cmd:
        params["args"] = args.cmd
    if args.timeout is not None:
        params["timeout"] = args.timeout
    with connect(paths) as client:
        if args.json:
            result = client.call("exec", params)
            render.as_json(result)
        else:
            try:
                result = _stream_exec(client, params)
            except KeyboardInterrupt:  # closing the connection stops the command
                return 130
    if result["timed_out"]:
        render.warn(f"procward: {result['error']}")
        return 124
    if result["code"] is None and result["signal"] is None:
        render.warn(f"procward: {result['error']}")
        return 127
    if result["signal"] is not None:
        return 128 + signal_number(result["signal"])
    return int(result["code"])


def _stream_exec(client: Client, params: dict[str, object]) -> dict[str, Any]:
    outputs = {"out": sys.stdout, "err": sys.stderr}
    calls = client.stream("exec", {**params, "stream": True})
    while True:
        try:
            method, chunk = next(calls)
        except StopIteration as done:
            result: dict[str, Any] = done.value
            return result
        if method == "output":
            out = outputs[chunk["stream"]]
            out.write(chunk["data"])
            out.flush()


def signal_number(name: str) -> int:
    import signal

    return int(getattr(signal, "SIG" + name, 0)) if not name.isdigit() else int(name)


def cmd_uptime(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        report = client.call("getUptime", name=args.name, days=args.days)
    render.show(report, render.uptime_table, json=args.json)
    return 0


def cmd_graph(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        graph = client.call("getDependencyGraph", **({"name": args.name} if args.name else {}))
    render.show(graph, render.graph, json=args.json)
    return 0


def cmd_health(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        health = client.call("getHealth", name=args.name)
    if args.json:
        render.as_json(health)
    else:
        render.health_table(health["apps"])
    return 0 if health["healthy"] else 1


def cmd_token(args: Namespace, paths: InstancePaths) -> int:
    needs = {
        "create": "a role: viewer, operator or admin",
        "revoke": "the token's id (see procward token list)",
    }
    if args.action in needs and args.what is None:
        return fail(f"token {args.action} needs {needs[args.action]}", 2)
    with connect(paths) as client:
        if args.action == "rotate":
            ended = client.call("rotateTokens").get("sessions_ended", 0)
            print(f"new signing key: every token issued before is refused; {ended} sessions ended")
            return 0
        if args.action == "list":
            render.show(client.call("listTokens"), render.token_table, json=args.json)
            return 0
        if args.action == "revoke":
            revoked = client.call("revokeToken", id=args.what)
            print(f"revoked {revoked['id']}; {revoked['sessions_ended']} sessions ended")
            return 0
        made = client.call("createToken", role=args.what, ttl=args.ttl, subject=args.subject)
    if args.json:
        render.as_json(made)
    else:
        print(made["token"])
    return 0


def cmd_network(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.off:
            client.call("setNetwork", tcp="", http="")
        elif args.tcp or args.http:
            client.call("setNetwork", tcp=args.tcp, http=args.http)
        daemon = client.call("status")["daemon"]
    if args.json:
        render.as_json(daemon["addresses"])
    else:
        for line in render.listeners(daemon):
            print(line)
    return 0


def cmd_audit(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        entries = client.call("getAudit", limit=args.lines, since=args.since, name=args.method)
    render.show(entries, render.audit_table, json=args.json)
    return 0


def cmd_inspect(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        found = client.call("inspect", name=args.name, lines=args.lines)
    render.show(found, render.inspection, json=args.json)
    return 0 if found["healthy"] else 1


def cmd_prompt(args: Namespace, paths: InstancePaths) -> int:
    """For PS1 and status bars: the daemon's status file, without calling the daemon."""
    from procward.kit import fastjson

    path = os.path.join(paths.runtime_dir, "status.json")
    try:
        with open(path, "rb") as f:
            status = fastjson.loads(f.read())
        os.kill(int(status["pid"]), 0)  # a file left by a daemon that died is no answer
    except (OSError, ValueError, KeyError, TypeError):
        if args.always:
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


def cmd_watch(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        if args.off:
            status = client.call("disableWatch")
        elif args.on:
            status = client.call("enableWatch", apps=args.names or None)
        else:
            status = client.call("getWatchStatus")
    render.show(status, render.watch_table, json=args.json)
    return 0
