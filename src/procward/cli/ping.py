"""``procward ping``: does the daemon answer?

The command whose start-up is budgeted (issue 18: within 1.5 x ``python -c pass``), so
it has a module of its own: it loads the connection and ``quantities`` for the uptime,
none of the other commands about the daemon and none of ``render``'s tables.
"""

from __future__ import annotations

from procward.cli.connection import connect
from procward.cli.options import PingArgs
from procward.cli.quantities import duration
from procward.kit._paths import InstancePaths


def cmd_ping(args: PingArgs, paths: InstancePaths) -> int:
    # The reply is read by key, not decoded into ``replies.Ping``: that would
    # import ``typing`` and ``enum`` (kit.structs), a third of ping's budget.
    with connect(paths, spawn=not args.no_spawn) as client:
        info = client.call("ping")
    if args.json:
        from procward.cli.render import as_json

        as_json(info)
    else:
        uptime = duration(info["uptime"])
        print(f"pong from procward {info['version']} (pid {info['pid']}, up {uptime})")
    return 0
