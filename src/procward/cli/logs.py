"""Commands about what the apps said and what happened to them: logs, events, flush."""

from __future__ import annotations

from procward.cli import render
from procward.cli.connection import connect, output_closed
from procward.cli.options import AppsArgs, EventsArgs, LogsArgs
from procward.kit._errors import KitError, NotRunning, ShuttingDown
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from procward.kit._client import Client


def cmd_logs(args: LogsArgs, paths: InstancePaths) -> int:
    stream = "err" if args.err else "out" if args.out else None
    scope: dict[str, object] = {"name": args.name, "stream": stream}
    if args.index is not None:
        scope["instance"] = args.index
    with connect(paths) as client:
        if args.reopen:
            reopened = client.call("reopenLogs")
            if args.json:
                render.as_json(reopened)
            else:
                print("log files reopened")
            return 0
        query: dict[str, object] = {**scope, "lines": args.lines}
        if args.since:
            query["since"] = args.since
        from procward.replies import list_from
        from procward.reports import LogEntry

        if args.follow:
            # One call: the tail as the logs stood when following began, then what
            # comes, so no line falls between the two or shows twice.
            printer = render.LogPrinter(prefix=True, as_json=args.json)

            def shown(method: str, params: Any) -> None:
                if method == "log":
                    printer.chunk(params)
                elif method == "tail":
                    for entry in list_from(LogEntry, params):
                        printer.lines(entry)
                elif method == "dropped":
                    render.warn(f"(too slow: {params['bytes']} bytes of output skipped)")

            # After a daemon restart, only what comes: the rest was shown or is in the files.
            return _follow(paths, client, "followLogs", query, shown, again=scope)
        logs = list_from(LogEntry, client.call("getLogs", query))
        # Say whose each line is when they come from more than one instance.
        many = len({(entry.app, entry.instance) for entry in logs}) > 1 or not args.name
        printer = render.LogPrinter(prefix=many, as_json=args.json)
        for entry in logs:
            printer.lines(entry)
        return 0


def cmd_flush(args: AppsArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        from procward.reports import Flushed

        reply = client.call("flushLogs", name=args.name)
        flushed = Flushed.from_dict(reply).flushed
    if args.json:
        render.as_json(reply)
        return 0
    print(f"emptied {flushed} log file{'s' if flushed != 1 else ''}")
    return 0


def cmd_events(args: EventsArgs, paths: InstancePaths) -> int:
    query: dict[str, object] = {"name": args.name, "limit": args.lines}
    if args.since:
        query["since"] = args.since
    with connect(paths) as client:
        for event in client.call("getEvents", query):
            render.event(event, as_json=args.json)
        if not args.follow:
            return 0

        def shown(method: str, params: Any) -> None:
            if method == "event":
                render.event(params, as_json=args.json)
            elif method == "dropped":
                render.warn(f"(too slow: {params['events']} events skipped)")

        return _follow(paths, client, "followEvents", {"name": args.name}, shown)


def _follow(
    paths: InstancePaths,
    client: Client,
    method: str,
    params: dict[str, object],
    shown: Callable[[str, Any], None],
    *,
    again: dict[str, object] | None = None,
) -> int:
    """Stream until Ctrl-C. When the daemon goes (``procward upgrade``, a
    restart by systemd), follow the next one (with ``again`` for params, if
    given); when it stopped, end quietly."""
    while True:
        try:
            for name, value in client.stream(method, params):
                shown(name, value)
            return 0
        except KeyboardInterrupt:
            return 0
        except (ConnectionError, ShuttingDown) as exc:  # it is going: maybe it comes back
            if isinstance(exc, BrokenPipeError) and output_closed():
                raise  # not the daemon: our reader went away (main ends quietly)
            client.close()
        try:
            back = _reconnect(paths)
        except KeyboardInterrupt:
            return 0
        if back is None:
            return 0
        client, params = back, again if again is not None else params
        render.warn("(the daemon restarted: following again; what came meanwhile is in the files)")


def _reconnect(paths: InstancePaths, wait: float = 10.0) -> Client | None:
    """The daemon again, or None if it stopped (or did not come back within ``wait``)."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            return connect(paths, spawn=False)
        except NotRunning:
            return None
        except (KitError, OSError):
            time.sleep(0.05)
    return None
