"""Commands about what the apps said and what happened to them: logs, events, flush."""

from __future__ import annotations

from procward.cli import render
from procward.cli.args import Namespace
from procward.cli.connection import connect
from procward.kit.paths import InstancePaths


def cmd_logs(args: Namespace, paths: InstancePaths) -> int:
    stream = "err" if args.err else "out" if args.out else None
    scope: dict[str, object] = {"name": args.name, "stream": stream}
    if args.index is not None:
        scope["instance"] = args.index
    with connect(paths) as client:
        if args.reopen:
            client.call("reopenLogs")
            print("log files reopened")
            return 0
        query: dict[str, object] = {**scope, "lines": args.lines}
        if args.since:
            query["since"] = args.since
        logs = client.call("getLogs", query)
        many = len({entry["app"] for entry in logs}) > 1 or not args.name
        printer = render.LogPrinter(prefix=many or args.follow, as_json=args.json)
        for entry in logs:
            printer.lines(entry)
        if not args.follow:
            return 0
        try:
            for method, params in client.stream("followLogs", scope):
                if method == "log":
                    printer.chunk(params)
                elif method == "dropped":
                    render.warn(f"(too slow: {params['bytes']} bytes of output skipped)")
        except KeyboardInterrupt:
            return 0
    return 0


def cmd_flush(args: Namespace, paths: InstancePaths) -> int:
    with connect(paths) as client:
        result = client.call("flushLogs", name=args.name)
    print(f"emptied {result['flushed']} log file{'s' if result['flushed'] != 1 else ''}")
    return 0


def cmd_events(args: Namespace, paths: InstancePaths) -> int:
    query: dict[str, object] = {"name": args.name, "limit": args.lines}
    if args.since:
        query["since"] = args.since
    with connect(paths) as client:
        for event in client.call("getEvents", query):
            render.event(event, as_json=args.json)
        if not args.follow:
            return 0
        try:
            for method, params in client.stream("followEvents", name=args.name):
                if method == "event":
                    render.event(params, as_json=args.json)
                elif method == "dropped":
                    render.warn(f"(too slow: {params['events']} events skipped)")
        except KeyboardInterrupt:
            return 0
    return 0
