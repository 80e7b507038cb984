"""Command-line parsing and the commands themselves."""

from __future__ import annotations

import argparse
import os
import sys

from procward._version import __version__
from procward.cli import render
from procward.client import daemon_argv as _daemon_argv
from procward.kit.errors import KitError, NotRunning
from procward.kit.paths import InstancePaths, instance_for_project, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from procward.kit.client import Client


PREFIX = "procward"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        paths = _paths(args)
    except ValueError as exc:
        return _fail(str(exc), 2)
    command: Callable[[argparse.Namespace, InstancePaths], int] = args.func
    try:
        return command(args, paths)
    except NotRunning:
        return _fail("procward is not running (start it with: procward up)", 3)
    except (KitError, OSError) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"procward: {message}\n")
    return code


def _paths(args: argparse.Namespace) -> InstancePaths:
    instance = args.instance
    if args.project is not None:
        instance = instance_for_project(args.project)
    return resolve(PREFIX, instance)


def _connect(paths: InstancePaths, spawn: bool = True) -> Client:
    from procward.kit.client import connect

    argv = _daemon_argv(paths, "--detached") if spawn else None
    return connect(paths, spawn_argv=argv, wait=float(os.environ.get("PROCWARD_WAIT", "2")))


# -- commands -----------------------------------------------------------------


def cmd_run(args: argparse.Namespace, paths: InstancePaths) -> int:
    extra = ["--detached"] if args.detached else []
    if args.idle_shutdown is not None:
        extra += ["--idle-shutdown", str(args.idle_shutdown)]
    argv = _daemon_argv(paths, *extra)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # same pid: what systemd and containers expect


def cmd_up(args: argparse.Namespace, paths: InstancePaths) -> int:
    with _connect(paths) as client:
        info = client.call("ping")
    if args.json:
        render.as_json(info)
    else:
        print(f"procward is running (pid {info['pid']}, instance {paths.instance})")
    return 0


def cmd_down(args: argparse.Namespace, paths: InstancePaths) -> int:
    from procward.kit.control import stop

    was_running, meta = stop(paths, timeout=args.timeout)
    if not was_running or meta is None:
        print("procward is not running")
    else:
        print(f"procward stopped (pid {meta.pid})")
    return 0


def cmd_kill(args: argparse.Namespace, paths: InstancePaths) -> int:
    from procward.kit.control import kill

    was_running, meta = kill(paths)
    if not was_running or meta is None:
        print("procward is not running")
    else:
        print(f"procward killed (pid {meta.pid})")
    return 0


def cmd_ping(args: argparse.Namespace, paths: InstancePaths) -> int:
    with _connect(paths, spawn=not args.no_spawn) as client:
        info = client.call("ping")
    if args.json:
        render.as_json(info)
    else:
        uptime = render.duration(info["uptime"])
        print(f"pong from procward {info['version']} (pid {info['pid']}, up {uptime})")
    return 0


def cmd_status(args: argparse.Namespace, paths: InstancePaths) -> int:
    with _connect(paths) as client:
        status = client.call("status")
    if args.json:
        render.as_json(status)
        return 0
    daemon = status["daemon"]
    render.fields(
        [
            ("daemon", f"running (pid {daemon['pid']}, version {daemon['version']})"),
            ("instance", daemon["instance"]),
            ("uptime", render.duration(daemon["uptime"])),
            ("socket", daemon["paths"]["socket"]),
            ("apps", len(status["apps"])),
        ]
    )
    return 0


def cmd_info(args: argparse.Namespace, paths: InstancePaths) -> int:
    from procward.kit.metadata import running

    liveness, meta = running(paths)
    info: dict[str, object] = {"daemon": liveness.value, **paths.as_dict()}
    if meta is not None:
        info["pid"] = meta.pid
        info["version"] = meta.version
    if args.json:
        render.as_json(info)
    else:
        render.fields(list(info.items()))
    return 0


def cmd_service(args: argparse.Namespace, paths: InstancePaths) -> int:
    from procward.kit.units import launchd_plist, systemd_units

    exe = os.path.abspath(sys.argv[0]) if sys.argv[0].endswith("procward") else "procward"
    run = [exe, "--instance", paths.instance, "run"]
    env = {"PROCWARD_HOME": os.environ["PROCWARD_HOME"]} if "PROCWARD_HOME" in os.environ else {}
    if args.kind == "launchd":
        sys.stdout.write(
            launchd_plist(
                "dev.procward." + paths.instance, run, log_path=paths.daemon_log, environment=env
            )
        )
        return 0
    units = systemd_units(
        "procward" if paths.instance == "default" else f"procward-{paths.instance}",
        run,
        description=f"procward process supervisor ({paths.instance})",
        socket_path=paths.socket if args.socket else None,
        environment=env,
    )
    for name, text in units.items():
        sys.stdout.write(f"# {name}\n{text}\n")
    return 0


# -- parser -----------------------------------------------------------------------
#
# Only the chosen command's sub-parser is built: building all of them (and the
# `shutil` import that argparse's default help formatter makes to measure the
# terminal) cost more than the round trip to the daemon.


def _formatter(prog: str) -> argparse.HelpFormatter:
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 100
    return argparse.HelpFormatter(prog, width=max(40, min(columns, 100) - 2))


def _no_options(p: argparse.ArgumentParser) -> None:
    pass


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detached", action="store_true", help="detach and log JSON to a file")
    p.add_argument("--idle-shutdown", type=float, metavar="SECONDS", help="stop when unused")


def _down_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=30.0, help="then SIGKILL (default 30)")


def _ping_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-spawn", action="store_true", help="do not start the daemon")


def _service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=["systemd", "launchd"], default="systemd")
    p.add_argument("--socket", action="store_true", help="with a socket unit (activation)")


Command = tuple[
    "Callable[[argparse.Namespace, InstancePaths], int]",
    str,
    "Callable[[argparse.ArgumentParser], None]",
]
COMMANDS: dict[str, Command] = {
    "run": (cmd_run, "run the daemon in the foreground (systemd, containers)", _run_options),
    "up": (cmd_up, "start the daemon if it is not running", _no_options),
    "down": (cmd_down, "stop the daemon gracefully", _down_options),
    "kill": (cmd_kill, "SIGKILL the daemon (for a hung daemon)", _no_options),
    "ping": (cmd_ping, "check that the daemon answers", _ping_options),
    "status": (cmd_status, "show the daemon and its apps", _no_options),
    "info": (cmd_info, "show the instance's paths and whether its daemon runs", _no_options),
    "service": (cmd_service, "print a service unit for an init system", _service_options),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    listing = "\n".join(f"  {name:<9} {text}" for name, (_f, text, _o) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="procward",
        description="Keep programs running: a process supervisor.",
        epilog=f"commands:\n{listing}\n\nprocward COMMAND --help shows a command's options.",
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=98),
    )
    parser.add_argument("--version", action="version", version=f"procward {__version__}")
    parser.add_argument("-i", "--instance", help="daemon instance (default: $PROCWARD_INSTANCE)")
    parser.add_argument(
        "--project",
        nargs="?",
        const=".",
        metavar="DIR",
        help="use the instance of a project directory (default: the current one)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    func, text, configure = COMMANDS[args.command]
    sub = argparse.ArgumentParser(
        prog=f"procward {args.command}", description=text, formatter_class=_formatter
    )
    sub.add_argument(
        "--json", action="store_true", default=args.json, help="machine-readable output"
    )
    configure(sub)
    sub.parse_args(args.args, namespace=args)
    args.func = func
    return args
