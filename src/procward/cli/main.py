"""Command-line parsing and the commands themselves."""

from __future__ import annotations

import os
import sys

from procward._version import __version__
from procward.cli import render
from procward.cli.args import Arg, Command, Namespace, Option, Parser, UsageError
from procward.client import daemon_argv as _daemon_argv
from procward.kit.errors import KitError, NotRunning
from procward.kit.paths import InstancePaths, instance_for_project, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from procward.kit.client import Client


PREFIX = "procward"


def main(argv: list[str] | None = None) -> int:
    try:
        command, args = PARSER.parse(sys.argv[1:] if argv is None else argv)
        paths = _paths(args)
    except UsageError as exc:
        if str(exc) == "--version":
            print(f"procward {__version__}")
            return 0
        hint = f" (see: procward {exc.command.name} --help)" if exc.command else ""
        return _fail(f"{exc}{hint}", 2)
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        return command.func(args, paths)
    except NotRunning:
        return _fail("procward is not running (start it with: procward up)", 3)
    except (KitError, OSError) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"procward: {message}\n")
    return code


def _paths(args: Namespace) -> InstancePaths:
    instance = args.instance
    if args.project is not None:
        instance = instance_for_project(args.project)
    return resolve(PREFIX, instance)


def _connect(paths: InstancePaths, spawn: bool = True) -> Client:
    from procward.kit.client import connect

    argv = _daemon_argv(paths, "--detached") if spawn else None
    return connect(paths, spawn_argv=argv, wait=float(os.environ.get("PROCWARD_WAIT", "2")))


# -- commands -----------------------------------------------------------------


def cmd_run(args: Namespace, paths: InstancePaths) -> int:
    extra = ["--detached"] if args.detached else []
    if args.idle_shutdown is not None:
        extra += ["--idle-shutdown", str(args.idle_shutdown)]
    argv = _daemon_argv(paths, *extra)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # same pid: what systemd and containers expect


def cmd_up(args: Namespace, paths: InstancePaths) -> int:
    with _connect(paths) as client:
        info = client.call("ping")
    if args.json:
        render.as_json(info)
    else:
        print(f"procward is running (pid {info['pid']}, instance {paths.instance})")
    return 0


def cmd_down(args: Namespace, paths: InstancePaths) -> int:
    from procward.kit.control import stop

    was_running, meta = stop(paths, timeout=args.timeout)
    if not was_running or meta is None:
        print("procward is not running")
    else:
        print(f"procward stopped (pid {meta.pid})")
    return 0


def cmd_kill(args: Namespace, paths: InstancePaths) -> int:
    from procward.kit.control import kill

    was_running, meta = kill(paths)
    if not was_running or meta is None:
        print("procward is not running")
    else:
        print(f"procward killed (pid {meta.pid})")
    return 0


def cmd_ping(args: Namespace, paths: InstancePaths) -> int:
    with _connect(paths, spawn=not args.no_spawn) as client:
        info = client.call("ping")
    if args.json:
        render.as_json(info)
    else:
        uptime = render.duration(info["uptime"])
        print(f"pong from procward {info['version']} (pid {info['pid']}, up {uptime})")
    return 0


def cmd_status(args: Namespace, paths: InstancePaths) -> int:
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


def cmd_info(args: Namespace, paths: InstancePaths) -> int:
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


def cmd_service(args: Namespace, paths: InstancePaths) -> int:
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


def _seconds(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


_seconds.__name__ = "seconds"
JSON = Option("--json", help="machine-readable output")

PARSER = Parser(
    "procward",
    "Keep programs running: a process supervisor.",
    options=[
        Option("-i", "--instance", type=str, help="daemon instance (default: $PROCWARD_INSTANCE)"),
        Option(
            "--project",
            type=str,
            metavar="DIR",
            help="use the instance of a project directory (e.g. --project .)",
        ),
        JSON,
        Option("--version", help="print the version"),
    ],
    commands=[
        Command(
            "run",
            cmd_run,
            "run the daemon in the foreground (systemd, containers)",
            [
                Option("--detached", help="detach and log JSON to a file"),
                Option(
                    "--idle-shutdown", type=_seconds, metavar="SECONDS", help="stop when unused"
                ),
            ],
        ),
        Command("up", cmd_up, "start the daemon if it is not running", [JSON]),
        Command(
            "down",
            cmd_down,
            "stop the daemon gracefully",
            [Option("--timeout", type=_seconds, default=30.0, help="then SIGKILL (default 30)")],
        ),
        Command("kill", cmd_kill, "SIGKILL the daemon (for a hung daemon)"),
        Command(
            "ping",
            cmd_ping,
            "check that the daemon answers",
            [JSON, Option("--no-spawn", help="do not start the daemon")],
        ),
        Command("status", cmd_status, "show the daemon and its apps", [JSON]),
        Command("info", cmd_info, "show the instance's paths and whether its daemon runs", [JSON]),
        Command(
            "service",
            cmd_service,
            "print a service unit for an init system",
            [Option("--socket", help="with a socket unit (socket activation)")],
            [
                Arg(
                    "kind",
                    help="systemd (default) or launchd",
                    optional=True,
                    default="systemd",
                    choices=["systemd", "launchd"],
                )
            ],
        ),
    ],
)
