"""``procward status``: the daemon's line, then a row per instance.

Its own module because it is the command people run most, after ``ping``: it loads
this, ``render`` and the records of its reply, not the other commands about apps.
Without a name it asks for ``statusTable`` (decision 0051), the instances as columns;
with ``--json`` for ``status``, every app in full, the shape scripts read.
"""

from __future__ import annotations

import sys

from procward.cli import render
from procward.cli.connection import connect
from procward.cli.options import AppsArgs
from procward.cli.quantities import duration
from procward.kit._errors import MethodNotFound
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from procward.replies import DaemonInfo


def cmd_status(args: AppsArgs, paths: InstancePaths) -> int:
    # Non-zero when something meant to run is not running, or the daemon warns (a
    # state it cannot save): scripts and CI can rely on it.
    if args.json:
        return _status_json(args, paths)
    if args.name:
        return _status_of_one(args.name, paths)
    with connect(paths) as client:
        told = set(client.start_warnings)  # printed already, by `connect`
        try:
            reply = client.call("statusTable")
        except MethodNotFound:  # a daemon older than decision 0051: every app in full
            return _status_in_full(client.call("status"), paths, told)
    from procward.replies import StatusTable

    status = StatusTable.from_dict(reply)
    _daemon_line(status.daemon, paths)
    render.instance_table(status.instances)
    _held_and_warned(status.instances.held, status.warnings, told)
    return 0 if status.healthy and not status.warnings else 1


def _status_json(args: AppsArgs, paths: InstancePaths) -> int:
    """``status --json``: ``status``'s reply, or ``getApp``'s in the same shape."""
    from procward.replies import AppView, DaemonStatus

    with connect(paths) as client:
        if args.name:
            reply = client.call("getApp", name=args.name)
            app = AppView.from_dict(reply)
            render.as_json({"apps": [reply], "healthy": app.healthy})
            return 0 if app.healthy else 1
        reply = client.call("status")
    status = DaemonStatus.from_dict(reply)
    render.as_json(reply)
    return 0 if status.healthy and not status.warnings else 1


def _status_of_one(name: str, paths: InstancePaths) -> int:
    from procward.replies import AppView

    with connect(paths) as client:
        app = AppView.from_dict(client.call("getApp", name=name))
    render.app_table([app])
    _held_and_warned([app.name] if app.held else [], [], set())
    return 0 if app.healthy else 1


def _status_in_full(reply: object, paths: InstancePaths, told: set[str]) -> int:
    from procward.replies import DaemonStatus

    status = DaemonStatus.from_dict(reply)
    _daemon_line(status.daemon, paths)
    render.app_table(status.apps)
    _held_and_warned([app.name for app in status.apps if app.held], status.warnings, told)
    return 0 if status.healthy and not status.warnings else 1


def _daemon_line(daemon: DaemonInfo, paths: InstancePaths) -> None:
    uptime = duration(daemon.uptime)
    print(f"procward {daemon.version} (pid {daemon.pid}, up {uptime}), {paths.instance}")
    for line in render.listeners(daemon, problems_only=True):
        print(line)


def _held_and_warned(held: list[str], warnings: list[str], told: set[str]) -> None:
    if held:
        print(f"held down since `procward down`: {', '.join(held)} (`procward up` starts them)")
    for text in (w for w in warnings if w not in told):
        sys.stderr.write(f"procward: warning: {text}\n")
