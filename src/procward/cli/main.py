"""Command-line parsing and the commands themselves."""

from __future__ import annotations

import os
import sys

from procward._version import __version__
from procward.cli.connection import fail, output_closed
from procward.cli.options import (
    AppArgs,
    AppsArgs,
    AuditArgs,
    CompleteArgs,
    CompletionArgs,
    DashboardArgs,
    EnvArgs,
    EventsArgs,
    ExecArgs,
    FleetArgs,
    Globals,
    ImportArgs,
    InspectArgs,
    LogsArgs,
    MetricsArgs,
    NetworkArgs,
    PingArgs,
    PromptArgs,
    RunArgs,
    ScaleArgs,
    SecretArgs,
    ServiceArgs,
    StartArgs,
    StartupArgs,
    StopArgs,
    TimeoutArgs,
    TokenArgs,
    UpArgs,
    UptimeArgs,
    WatchArgs,
)
from procward.kit._argv import Arg, Command, Option, Parser, UsageError, seconds
from procward.kit._errors import KitError, NotRunning
from procward.kit._paths import InstancePaths, instance_for_project, resolve

PREFIX = "procward"


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status.

    A reader that went away (``procward logs | head -1``) is a normal end, as
    for ``cat``: no message, status 141 (128 + SIGPIPE). Python ignores SIGPIPE
    and raises ``BrokenPipeError`` instead, from a ``print`` or from the flush
    of stdout, which is done here so that it cannot fail at interpreter exit.
    """
    try:
        code = _run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        if not output_closed():
            raise  # a socket's, which _run reports itself; not expected here
        # What is still buffered must not be flushed into the closed pipe at
        # exit either (the Python docs' SIGPIPE note): send it to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] and argv[0].startswith("@"):
            at = _at(argv)
            if at is None:  # no alias of remotes.toml: a node of the fleet (cli/atnode.py)
                from procward.cli.atnode import on_node

                return on_node(argv, resolve(PREFIX, None), _run, unknown_at(argv[0]))
            argv = at
        command, args = PARSER.parse(argv)
        assert isinstance(args, Globals)  # every command's record is
        paths = _paths(args)
        for name, value in (
            ("PROCWARD_CONNECT", args.connect),
            ("PROCWARD_CA_FILE", args.ca_file),
            ("PROCWARD_CLIENT_CERT", args.client_cert),
            ("PROCWARD_CLIENT_KEY", args.client_key),
        ):
            if value:
                os.environ[name] = value
    except UsageError as exc:
        if str(exc) == "--version":
            print(f"procward {__version__}")
            return 0
        hint = f" (see: procward {exc.command.name} --help)" if exc.command else ""
        return fail(f"{exc}{hint}", 2)
    except ValueError as exc:
        return fail(str(exc), 2)
    try:
        return command.func(args, paths)
    except NotRunning:
        return fail("procward is not running (start it with: procward up)", 3)
    except BrokenPipeError as exc:
        if output_closed():
            raise
        return fail(str(exc), 1)
    except (KitError, OSError) as exc:
        return fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130


def _at(argv: list[str]) -> list[str] | None:
    """``@NAME COMMAND``: the argv that runs COMMAND there, or None if NAME is unknown."""
    from procward.cli.remote import at_alias

    return at_alias(argv)  # remotes.toml's aliases first (then the fleet's nodes)


def unknown_at(word: str) -> str:
    from procward.cli.remote import unknown

    return unknown(word)


def _paths(args: Globals) -> InstancePaths:
    instance = args.instance
    if args.project is not None:
        instance = instance_for_project(args.project)
    return resolve(PREFIX, instance)


# -- commands -----------------------------------------------------------------


def cmd_completion(args: CompletionArgs, paths: InstancePaths) -> int:
    """Print the completion script for a shell, made from ``PARSER`` (loaded only here)."""
    from procward.kit._completion import script

    if args.json:
        from procward.cli.render import as_json

        as_json({"shell": args.shell, "script": script(PARSER, args.shell)})
        return 0
    sys.stdout.write(script(PARSER, args.shell))
    return 0


def cmd_complete(args: CompleteArgs, paths: InstancePaths) -> int:
    """``__complete apps``: the running daemon's app names, for the completion scripts.

    Never starts a daemon, never waits long, never says anything but names:
    a shell calls it on every TAB.
    """
    from procward.cli.completing import app_names

    if args.json:
        from procward.cli.render import as_json

        as_json({"apps": app_names(paths)})
        return 0
    for name in app_names(paths):
        print(name)
    return 0


# -- parser -----------------------------------------------------------------------


JSON = Option("--json", help="machine-readable output")
KIND = [
    Arg(
        "kind",
        help="systemd (default) or launchd",
        optional=True,
        default="systemd",
        choices=["systemd", "launchd"],
    )
]

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
        Option(
            "--connect",
            type=str,
            metavar="HOST:PORT|NAME",
            help="a daemon's TCP listener, with the token in $PROCWARD_TOKEN, or an alias of "
            "remotes.toml (also: procward @NAME COMMAND) (default: $PROCWARD_CONNECT)",
        ),
        Option(
            "--ca-file",
            type=str,
            metavar="FILE",
            help="with --connect: TLS, verifying the daemon against this CA "
            "(default: $PROCWARD_CA_FILE)",
        ),
        Option(
            "--client-cert",
            type=str,
            metavar="FILE",
            help="with --connect: a certificate for a daemon that asks for one "
            "(default: $PROCWARD_CLIENT_CERT)",
        ),
        Option(
            "--client-key",
            type=str,
            metavar="FILE",
            help="its private key (default: $PROCWARD_CLIENT_KEY)",
        ),
        JSON,
        Option("--version", help="print the version"),
    ],
    commands=[
        Command(
            "run",
            "procward.cli.daemon:cmd_run",
            "run the daemon in the foreground (systemd, containers: procward run -c FILE --logs)",
            [
                Option("--detached", help="detach and log JSON to a file"),
                Option("--idle-shutdown", type=seconds, metavar="SECONDS", help="stop when unused"),
                Option("-c", "--config", type=str, metavar="FILE", help="load and start its apps"),
                Option(
                    "--exit-on",
                    type=str,
                    choices=["crashed", "any-exit", "never"],
                    metavar="WHEN",
                    help="exit (stopping the rest) when an app has crashed (status 1), "
                    "when any app exits (0 if all exits were 0), or never "
                    "(default: crashed with -c, else never)",
                ),
                Option("--logs", help="every app's output on stdout/stderr, prefixed 'web.0 | '"),
                Option("--no-log-files", help="with --logs: write no log files"),
                Option(
                    "--json",
                    help="the daemon's log as JSON lines on stderr (--detached: print "
                    "its pid as JSON)",
                ),
            ],
            record=RunArgs,
        ),
        Command(
            "up",
            "procward.cli.daemon:cmd_up",
            "start the daemon if it is not running; with -c, load and start apps",
            [JSON, Option("-c", "--config", type=str, metavar="FILE", help="a procward.toml")],
            record=UpArgs,
            aliases=["resurrect"],  # pm2: the saved apps back after a reboot
        ),
        Command(
            "down",
            "procward.cli.daemon:cmd_down",
            "stop the daemon gracefully",
            [
                JSON,
                Option("--timeout", type=seconds, default=30.0, help="then SIGKILL (default 30)"),
            ],
            record=TimeoutArgs,
        ),
        Command(
            "kill",
            "procward.cli.daemon:cmd_kill",
            "SIGKILL the daemon (for a hung daemon)",
            [JSON],
            record=Globals,
        ),
        Command(
            "upgrade",
            "procward.cli.daemon:cmd_upgrade",
            "run the installed procward in the daemon's place; every app keeps running",
            [
                JSON,
                Option("--timeout", type=seconds, default=30.0, help="to come back (default 30)"),
            ],
            record=TimeoutArgs,
        ),
        Command(
            "ping",
            "procward.cli.ping:cmd_ping",
            "check that the daemon answers",
            [JSON, Option("--no-spawn", help="do not start the daemon")],
            record=PingArgs,
        ),
        Command(
            "info",
            "procward.cli.daemon:cmd_info",
            "show the instance's paths and whether its daemon runs",
            [JSON],
            record=Globals,
        ),
        Command(
            "status",
            "procward.cli.status:cmd_status",
            "show the apps (exit status 1 if something meant to run does not, or on a warning)",
            [JSON],
            [Arg("name", help="one app (default: all)", optional=True, complete="apps")],
            record=AppsArgs,
            aliases=["ls"],  # pm2
        ),
        Command(
            "start",
            "procward.cli.apps:cmd_start",
            "start an app, all apps, or a new command: start --name web -- python -m http.server",
            [
                JSON,
                Option("--name", type=str, dest="app_name", help="name of a new app"),
                Option("--instances", type=int, default=1, help="instances of a new app"),
                Option("--cwd", type=str, metavar="DIR", help="working directory of a new app"),
                Option("--env", type=str, metavar="KEY=VALUE", repeat=True, help="for a new app"),
                Option(
                    "--restart",
                    type=str,
                    default="on-failure",
                    choices=["on-failure", "always", "never"],
                    help="restart policy of a new app (default on-failure)",
                ),
            ],
            [
                Arg("name", help="app name, or all", optional=True, complete="apps"),
                Arg("cmd", help="after --: the command of a new app", many=True),
            ],
            record=StartArgs,
        ),
        Command(
            "stop",
            "procward.cli.apps:cmd_stop",
            "stop an app, or all (whole process groups: TERM, then KILL)",
            [
                JSON,
                Option("--force", help="KILL at once"),
                Option("--timeout", type=seconds, metavar="S", help="before KILL"),
            ],
            [Arg("name", help="app name, or all", complete="apps")],
            record=StopArgs,
        ),
        Command(
            "restart",
            "procward.cli.apps:cmd_restart",
            "restart an app, or all",
            [JSON],
            [Arg("name", help="app, or all", complete="apps")],
            record=AppArgs,
        ),
        Command(
            "reload",
            "procward.cli.apps:cmd_reload",
            "new processes for an app's old ones, one at a time; no app: re-read the configs",
            [JSON],
            [
                Arg(
                    "name",
                    help="app, or all (default: the config files)",
                    optional=True,
                    complete="apps",
                )
            ],
            record=AppsArgs,
        ),
        Command(
            "scale",
            "procward.cli.apps:cmd_scale",
            "run N instances of an app",
            [JSON],
            [Arg("name", help="app", complete="apps"), Arg("count", help="instances", type=int)],
            record=ScaleArgs,
        ),
        Command(
            "delete",
            "procward.cli.apps:cmd_delete",
            "stop an app and forget it",
            [JSON],
            [Arg("name", help="app", complete="apps")],
            record=AppArgs,
        ),
        Command(
            "health",
            "procward.cli.apps:cmd_health",
            "readiness and health probes of each instance; exit 1 if any app is unwell",
            [JSON],
            [Arg("name", help="app (default: all)", optional=True, complete="apps")],
            record=AppsArgs,
        ),
        Command(
            "uptime",
            "procward.cli.apps:cmd_uptime",
            "how long each app was up while meant to run, per day (90 days kept)",
            [JSON, Option("--days", type=int, default=30, help="how many days (default 30)")],
            [Arg("name", help="app (default: all)", optional=True, complete="apps")],
            record=UptimeArgs,
        ),
        Command(
            "events",
            "procward.cli.logs:cmd_events",
            "what happened to the instances (starts, exits, restarts, probes), newest last",
            [
                JSON,
                Option("-n", "--lines", type=int, default=50, help="how many (default 50)"),
                Option("-f", "--follow", help="keep printing new events"),
                Option("--since", type=str, metavar="AGE", help="only newer events, e.g. 10m"),
            ],
            [Arg("name", help="one app (default: all)", optional=True, complete="apps")],
            record=EventsArgs,
        ),
        Command(
            "hooks",
            "procward.cli.hooks:cmd_hooks",
            "each hook, its apps and its deliveries (exit status 1 if some were lost)",
            [JSON],
            record=Globals,
        ),
        Command(
            "logs",
            "procward.cli.logs:cmd_logs",
            "show the apps' output; -f follows it",
            [
                JSON,
                Option("-n", "--lines", type=int, default=100, help="lines per log (default 100)"),
                Option("-f", "--follow", help="then print new output as it comes"),
                Option("--out", help="stdout only"),
                Option("--err", help="stderr only"),
                Option("--index", type=int, help="one instance"),
                Option("--since", type=str, metavar="AGE", help="only newer lines, e.g. 10m"),
                Option("--reopen", help="reopen the log files (after an external logrotate)"),
            ],
            [Arg("name", help="one app (default: all)", optional=True, complete="apps")],
            record=LogsArgs,
        ),
        Command(
            "flush",
            "procward.cli.logs:cmd_flush",
            "empty the logs of an app (or all) and delete their backups",
            [JSON],
            [Arg("name", help="one app (default: all)", optional=True, complete="apps")],
            record=AppsArgs,
        ),
        Command(
            "inspect",
            "procward.cli.apps:cmd_inspect",
            "one app in full: definition, instances, probes, usage, env, watch, recent logs",
            [JSON, Option("-n", "--lines", type=int, default=20, help="log lines per file")],
            [Arg("name", help="app", complete="apps")],
            record=InspectArgs,
            aliases=["describe"],  # pm2
        ),
        Command(
            "metrics",
            "procward.cli.apps:cmd_metrics",
            "CPU and memory of each instance (its whole process group) and of the daemon",
            [
                JSON,
                Option(
                    "--on", help="sample periodically (NAME: that app too); status shows CPU, MEM"
                ),
                Option("--off", help="stop sampling (NAME: that app), the default: on demand"),
                Option("--interval", type=seconds, help="seconds between samples (default 5)"),
            ],
            [Arg("name", help="app (default: all)", optional=True, complete="apps")],
            record=MetricsArgs,
        ),
        Command(
            "env",
            "procward.cli.apps:cmd_env",
            "the environment an app's instance runs with",
            [JSON, Option("--index", type=int, default=0, help="which instance (default 0)")],
            [Arg("name", help="app", complete="apps")],
            record=EnvArgs,
        ),
        Command(
            "exec",
            "procward.cli.apps:cmd_exec",
            "run a command in an app's environment: exec web migrate, exec web -- ls (admin)",
            [
                JSON,
                Option("--index", type=int, default=0, help="as which instance (default 0)"),
                Option("--timeout", type=str, metavar="AGE", help="then stop it (default 10m)"),
            ],
            [
                Arg("name", help="app", complete="apps"),
                Arg("command", help="one of the app's [commands]", optional=True),
                Arg("cmd", help="after --: a command line, or more arguments", many=True),
            ],
            record=ExecArgs,
        ),
        Command(
            "graph",
            "procward.cli.apps:cmd_graph",
            "the dependency graph of the apps, or what one app needs and what needs it",
            [JSON],
            [Arg("name", help="app (default: all)", optional=True, complete="apps")],
            record=AppsArgs,
        ),
        Command(
            "watch",
            "procward.cli.apps:cmd_watch",
            "watch mode: which apps reload when their files change; switch it on or off",
            [
                JSON,
                Option("--on", help="watch the apps with a `watch` key (or only NAMES)"),
                Option("--off", help="stop watching until --on"),
            ],
            [Arg("names", help="apps, with --on", many=True, complete="apps")],
            record=WatchArgs,
        ),
        Command(
            "prompt",
            "procward.cli.apps:cmd_prompt",
            "for shell prompts: nothing when all is well, else what is down (no daemon call)",
            [JSON, Option("--always", help="print the counts even when all is well")],
            record=PromptArgs,
        ),
        Command(
            "network",
            "procward.cli.apps:cmd_network",
            "listen on TCP and HTTP (tokens required) or stop; kept across restarts",
            [
                JSON,
                Option(
                    "--tcp", type=str, metavar="HOST:PORT", help="JSON-RPC, e.g. 127.0.0.1:9700"
                ),
                Option(
                    "--http",
                    type=str,
                    metavar="HOST:PORT",
                    help="POST /rpc, GET /metrics (Prometheus), GET /health; e.g. 127.0.0.1:9800",
                ),
                Option("--off", help="stop listening on both"),
                Option(
                    "--tls-cert",
                    type=str,
                    metavar="FILE",
                    help="serve both over TLS with this certificate (PEM)",
                ),
                Option("--tls-key", type=str, metavar="FILE", help="the certificate's key (PEM)"),
                Option(
                    "--tls-client-ca",
                    type=str,
                    metavar="FILE",
                    help="mutual TLS: clients need a certificate this CA signed",
                ),
                Option("--no-tls", help="serve both in clear again"),
            ],
            record=NetworkArgs,
        ),
        Command(
            "dashboard",
            "procward.cli.dashboard:cmd_dashboard",
            "open the web dashboard with a short-lived token (turns HTTP on for loopback "
            "if it is off)",
            [
                JSON,
                Option("--print-url", help="print the link and open nothing"),
                Option(
                    "--role",
                    type=str,
                    default="viewer",
                    choices=["viewer", "operator"],
                    help="viewer (default: no buttons) or operator (start, stop...)",
                ),
                Option("--ttl", type=str, default="1h", help="how long the token lasts (1h)"),
            ],
            record=DashboardArgs,
        ),
        Command(
            "token",
            "procward.cli.apps:cmd_token",
            "tokens for the network: create one (printed once), list, revoke one, "
            "or rotate the key to revoke all",
            [
                JSON,
                Option("--ttl", type=str, default="1h", help="how long it is valid (default 1h)"),
                Option("--subject", type=str, help="who it is for (shown in the audit log)"),
            ],
            [
                Arg(
                    "action",
                    help="create, list, revoke or rotate",
                    choices=["create", "list", "revoke", "rotate"],
                ),
                Arg(
                    "what",
                    help="create: the role (viewer, operator or admin); revoke: the token's id",
                    optional=True,
                ),
            ],
            record=TokenArgs,
        ),
        Command(
            "fleet",
            "procward.cli.fleet:cmd_fleet",
            "the fleet of daemons on Redis: status, step-down, drain NODE, undrain NODE",
            [JSON],
            [
                Arg(
                    "action",
                    help="status, step-down, drain or undrain",
                    choices=["status", "step-down", "drain", "undrain"],
                ),
                Arg("node", help="drain, undrain: the node's name", optional=True),
            ],
            record=FleetArgs,
        ),
        Command(
            "secret",
            "procward.cli.secrets:cmd_secret",
            "secrets for the apps, encrypted at rest: set NAME (value on stdin), list, "
            "rm NAME, rotate-key, reset (an unreadable store)",
            [
                JSON,
                Option(
                    "--from-file",
                    type=str,
                    metavar="FILE",
                    help="set: read the value from FILE, not stdin",
                ),
                Option("--raw", help="set: keep a trailing newline"),
                Option("--reload", help="set: reload the apps that use it, to give them the value"),
            ],
            [
                Arg(
                    "action",
                    help="set, list, rm, rotate-key or reset",
                    choices=["set", "list", "rm", "rotate-key", "reset"],
                ),
                Arg("name", help="set, rm: the secret's name", optional=True),
            ],
            record=SecretArgs,
        ),
        Command(
            "audit",
            "procward.cli.apps:cmd_audit",
            "who changed what, who logged in, who was refused (newest last)",
            [
                JSON,
                Option("-n", "--lines", type=int, default=50, help="how many (default 50)"),
                Option("--since", type=str, metavar="AGE", help="only newer entries, e.g. 1h"),
                Option("--method", type=str, help="one method, e.g. stopApp"),
            ],
            record=AuditArgs,
        ),
        Command(
            "completion",
            cmd_completion,
            'print a completion script: eval "$(procward completion bash)", '
            "source <(procward completion zsh), procward completion fish | source",
            [JSON],
            [Arg("shell", help="bash, zsh or fish", choices=["bash", "zsh", "fish"])],
            record=CompletionArgs,
        ),
        Command(
            "__complete",
            cmd_complete,
            "what the completion scripts ask for at run time (apps: the daemon's app names)",
            [JSON],
            [Arg("what", help="apps", choices=["apps"])],
            record=CompleteArgs,
            hidden=True,
        ),
        Command(
            "import",
            "procward.cli.importing:cmd_import",
            "turn a supervisord.conf, a Procfile, a PM2 ecosystem file or a circus.ini into a "
            "procward.toml, listing what does not carry over",
            [
                JSON,
                Option("-o", "--output", type=str, metavar="FILE", help="write it there"),
                Option(
                    "--from",
                    type=str,
                    dest="kind",
                    choices=["supervisord", "procfile", "pm2", "circus"],
                    metavar="FORMAT",
                    help="supervisord, procfile, pm2 or circus (default: from the file's name and "
                    "content)",
                ),
                Option(
                    "--env",
                    type=str,
                    dest="env_name",
                    metavar="NAME",
                    help="PM2: use each app's env_NAME too, as pm2 start --env NAME does",
                ),
                Option("--force", help="replace the -o file if it exists"),
            ],
            [Arg("file", help="the file to import")],
            record=ImportArgs,
        ),
        Command(
            "service",
            "procward.cli.daemon:cmd_service",
            "print a service unit for an init system",
            [JSON, Option("--socket", help="with a socket unit (socket activation)")],
            KIND,
            record=ServiceArgs,
        ),
        Command(
            "startup",
            "procward.cli.daemon:cmd_startup",
            "write the service unit where systemd (or launchd) finds it and print the "
            "command that enables it: started at login, or at boot",
            [
                JSON,
                Option("--socket", help="with a socket unit (socket activation)"),
                Option("--force", help="replace a unit file that differs"),
            ],
            KIND,
            record=StartupArgs,
        ),
        Command(
            "save",
            "procward.cli.daemon:cmd_save",
            "nothing to do (for pm2 habits): the apps are saved at every change",
            [JSON],
            record=Globals,
        ),
        Command(
            "doctor",
            "procward.cli.daemon:cmd_doctor",
            "check this instance (dirs, lock, socket, daemon, unit, cgroups, clock, disk, "
            "logs) and print each problem with its fix; changes nothing, starts nothing",
            [JSON],
            record=Globals,
        ),
    ],
)
