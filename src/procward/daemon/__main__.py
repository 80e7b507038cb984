"""``python -m procward.daemon``: the daemon process itself.

``procward run`` and auto-spawn both end up here, so the CLI never imports
the daemon (or anything heavy) to start one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from procward.kit._argv import Arguments, Option, Parser, UsageError, seconds
from procward.kit._eventloop import keep_openssl_out
from procward.kit._lock import is_locked
from procward.kit._paths import InstancePaths, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from procward.daemon.foreground import RunOptions

USAGE = """\
usage: python -m procward.daemon [--instance NAME] [--detached] [--idle-shutdown SECONDS]
                                 [--config FILE] [--exit-on MODE] [--logs] [--no-log-files]
                                 [--kill-leftovers] [--check]

The procward daemon itself, in the foreground; `procward run` execs it and
`procward up` starts it detached.

  --instance NAME          instance name (default: $PROCWARD_INSTANCE or default)
  --detached               run as a background daemon with JSON logs
  --idle-shutdown SECONDS  stop after this long unused
  --config FILE            load and start the apps of a procward.toml (foreground)
  --exit-on MODE           crashed, any-exit or never: when an app ending ends the
                           daemon (default: crashed with --config, else never)
  --logs                   mirror every app's output to stdout and stderr, prefixed
  --no-log-files           with --logs: write no log files
  --kill-leftovers         SIGKILL the app processes a dead daemon left
                           (what `procward kill` runs)
  --check                  load the daemon's code and exit: 0 if it would start
                           (an upgrade's pre-flight)
"""


EXIT_ON = ("crashed", "any-exit", "never")


class Options(Arguments):
    """The daemon's own few options (the kit's argv parser: argparse would cost 2 ms and 180 kB)."""

    instance: str | None
    detached: bool
    idle_shutdown: float | None
    config: str | None
    exit_on: str | None
    logs: bool
    no_log_files: bool
    kill_leftovers: bool
    check: bool


PARSER = Parser(
    "python -m procward.daemon",
    "The procward daemon itself.",
    [
        Option("--instance", type=str, metavar="NAME", help="instance name"),
        Option("--detached", help="run as a background daemon with JSON logs"),
        Option("--idle-shutdown", type=seconds, help="stop after this long unused"),
        Option("--config", type=str, help="a procward.toml to load and start"),
        Option("--exit-on", type=str, choices=EXIT_ON, help="when an app ending ends the daemon"),
        Option("--logs", help="mirror every app's output to stdout and stderr"),
        Option("--no-log-files", help="with --logs: write no log files"),
        Option("--kill-leftovers", help="SIGKILL the app processes a dead daemon left"),
        Option("--check", help="load the daemon's code and exit"),
    ],
    help_text=USAGE,
)


def parse(argv: list[str]) -> Options:
    """Parse the daemon's argv; ``SystemExit(2)`` with the usage on a mistake."""
    try:
        return PARSER.parse_options(argv, Options)
    except UsageError as exc:
        _usage_error(_reason(exc))


def _reason(exc: UsageError) -> str:
    """The daemon's own words for a mistake (its callers are programs: one word each)."""
    if exc.kind == "missing":
        return f"{exc.option} needs a value"
    if exc.kind == "invalid" and exc.option == "--exit-on":
        return f"--exit-on takes {', '.join(EXIT_ON)}, not {exc.value!r}"
    if exc.kind == "invalid":
        return f"{exc.option} takes seconds, not {exc.value!r}"
    return f"unknown argument {exc.word!r}"


def _usage_error(text: str) -> NoReturn:
    print(USAGE.partition("\n\n")[0], file=sys.stderr)
    print(f"procward.daemon: {text}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        paths = resolve("procward", args.instance)
    except ValueError as exc:
        _usage_error(str(exc))
    if args.kill_leftovers:
        return kill_leftovers(paths)
    if args.check:  # what an upgrade runs before it execs this program
        keep_openssl_out()
        from procward.daemon.service import ProcwardDaemon

        ProcwardDaemon(paths)
        return 0
    # Before anything imports asyncio: unless it is to serve TLS, the daemon
    # leaves OpenSSL out, a fifth of its memory and 8 ms of its start (0008, 0040).
    if not tls_wanted(paths):
        keep_openssl_out()
    from procward.daemon.service import ProcwardDaemon

    # In the foreground (`procward run`) a service manager or a container started it
    # on purpose: what `down` held down starts too. On demand (--detached), it waits for `up`.
    daemon = ProcwardDaemon(
        paths,
        idle_shutdown=args.idle_shutdown,
        start_held=not args.detached,
        foreground=run_options(args),
    )
    return daemon.run(detached=args.detached)


def tls_wanted(paths: InstancePaths) -> bool:
    """Does the saved network setting ask for TLS? Read before asyncio is imported.

    ``state.json`` is read again, fully, by the daemon; here only this one
    setting, with ``json`` alone. An unreadable file answers no: the daemon
    then says what is wrong with it, and a TLS listener would not listen.
    """
    import json

    try:
        with open(paths.state, "rb") as f:
            network = json.loads(f.read())["settings"]["network"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(network, dict) and bool(network.get("tls_cert"))


def run_options(args: Options) -> RunOptions | None:
    """``run``'s foreground options, or None when none is given (nothing more loaded)."""
    given = args.config is not None or args.exit_on is not None or args.logs or args.no_log_files
    if not given:
        return None
    if args.detached:
        _usage_error("--config, --exit-on, --logs and --no-log-files are for the foreground")
    from procward.daemon.foreground import RunOptions
    from procward.supervision.exiton import ExitOn

    # With a file it is the container's form: an app that gives up ends it. Without,
    # a service manager's daemon whose apps come and go: it runs on (as before).
    exit_on = args.exit_on or ("crashed" if args.config is not None else "never")
    return RunOptions(
        config=args.config,
        exit_on=ExitOn(exit_on),
        logs=args.logs,
        log_files=not args.no_log_files,
    )


def kill_leftovers(paths: InstancePaths) -> int:
    """SIGKILL every app process group of this instance; only when no daemon runs."""
    from procward.supervision import state

    if is_locked(paths.lock):
        print("procward: the daemon is running; use `procward down`", file=sys.stderr)
        return 1
    groups = state.leftovers(_saved_or_set_aside(paths), paths.state_dir)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group.pgid, signal.SIGKILL)
    if groups:
        print(f"killed {len(groups)} app process group{'s' if len(groups) != 1 else ''}")
    return 0


def _saved_or_set_aside(paths: InstancePaths) -> dict[str, object] | None:
    """The saved state; unreadable, it is set aside: `kill` is the operator's decision."""
    from procward.kit._errors import CorruptFile
    from procward.supervision import state

    try:
        return state.load(paths.state)
    except CorruptFile:
        for name in state.set_aside(paths.state):
            print(f"set aside: {name}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
