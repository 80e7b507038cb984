"""Commands about the daemon itself: run, up, down, upgrade, kill, info, service,
startup, save and doctor."""

from __future__ import annotations

import os
import sys

from procward._spawning import daemon_argv as _daemon_argv
from procward.cli import render
from procward.cli.connection import connect, fail, start_timeout, warn_of
from procward.cli.options import (
    Globals,
    RunArgs,
    ServiceArgs,
    StartupArgs,
    TimeoutArgs,
    UpArgs,
)
from procward.kit._errors import Conflict, KitError
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from procward.kit._metadata import Metadata


def cmd_run(args: RunArgs, paths: InstancePaths) -> int:
    extra = ["--detached"] if args.detached else []
    if args.idle_shutdown is not None:
        extra += ["--idle-shutdown", str(args.idle_shutdown)]
    foreground = _foreground_argv(args)
    if args.json and not args.detached:  # the daemon's own log, as JSON lines on stderr
        os.environ["PROCWARD_LOG_FORMAT"] = "json"
    if foreground and args.detached:
        return fail("-c, --exit-on, --logs and --no-log-files are for the foreground", 2)
    argv = _daemon_argv(paths, *extra, *foreground)
    if args.detached:  # in the background, exactly as `up` starts it
        from procward.kit._client import start_daemon

        started = start_daemon(paths, argv, start_timeout=start_timeout())
        warn_of(started.warnings)
        with connect(paths, spawn=False) as client:  # deliberate, as `up`: what `down` held
            resumed = client.call("resume")
        if args.json:
            render.as_json(
                {"pid": started.pid, "instance": paths.instance, "warnings": started.warnings}
                | {"resume": resumed}
            )
            return 1 if started.warnings else 0
        print(f"procward is running (pid {started.pid}, instance {paths.instance})")
        return 1 if started.warnings else 0
    sys.stdout.flush()
    _hold_stop_signals()
    os.execv(argv[0], argv)  # same pid: what systemd and containers expect


def _hold_stop_signals() -> None:
    """Keep a SIGTERM that comes before the daemon handles it pending, not lost.

    As PID 1 of a container, a signal with no handler is not acted on but
    discarded: a ``docker stop`` during the daemon's start would be lost. A
    blocked signal stays pending across the exec, and the daemon unblocks
    these once its handlers are in place (as after an upgrade's exec).
    """
    import signal

    held = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)


def _foreground_argv(args: RunArgs) -> list[str]:
    """The daemon's argv for ``run``'s foreground options (a relative file made absolute)."""
    argv = ["--config", os.path.abspath(args.config)] if args.config else []
    if args.exit_on:
        argv += ["--exit-on", args.exit_on]
    return argv + ["--logs"] * args.logs + ["--no-log-files"] * args.no_log_files


def cmd_up(args: UpArgs, paths: InstancePaths) -> int:
    """Start the daemon (``connect`` does), start what `down` held, and load ``-c FILE``.

    Each call's reply is what is shown, no ``status`` after: ``ping`` says
    which daemon runs, ``resume`` the apps started again, ``loadConfig`` the
    file's changes and its apps. With --json: those replies, by method.
    """
    from procward.replies import AppsChanged, ConfigApplied, Ping

    replies: dict[str, object] = {}
    with connect(paths) as client:
        replies["resume"] = client.call("resume")  # what `down` held down
        if args.config:
            replies["loadConfig"] = client.call("loadConfig", path=os.path.abspath(args.config))
        replies["ping"] = client.call("ping")
        # It runs, but not all is well (a listener could not bind): say so in the exit status.
        warned = bool(client.start_warnings)
    if args.json:
        render.as_json(replies)
        return 1 if warned else 0
    pid = Ping.from_dict(replies["ping"]).pid
    resumed = AppsChanged.from_dict(replies["resume"]).apps
    print(f"procward is running (pid {pid}, instance {paths.instance})")
    if resumed:
        print(f"started again: {', '.join(app.name for app in resumed)}")
    if not args.config:
        return 1 if warned else 0
    loaded = ConfigApplied.from_dict(replies["loadConfig"])
    for result in loaded.files:
        render.changes(result)
    render.app_table(loaded.apps)
    return 0 if all(app.healthy for app in loaded.apps) and not warned else 1


def cmd_down(args: TimeoutArgs, paths: InstancePaths) -> int:
    from procward.kit._control import stop_or_kill

    meta, killed = stop_or_kill(paths, timeout=args.timeout)
    groups = _end_apps(paths)[1] if killed else 0  # hung: it never stopped its apps
    if args.json:
        render.as_json(_ended(meta, killed=killed, groups=groups))
    if meta is None:
        return 0 if args.json else _said("procward is not running")
    if not killed:
        return 0 if args.json else _said(f"procward stopped (pid {meta.pid})")
    return fail(
        f"did not stop within {args.timeout:g}s: killed it (pid {meta.pid}) "
        f"and its apps ({_groups(groups)})",
        1,
    )


def _ended(meta: Metadata | None, *, killed: bool, groups: int) -> dict[str, object]:
    """``down`` and ``kill`` with --json: which daemon, and whether it took SIGKILL."""
    return {
        "was_running": meta is not None,
        "pid": None if meta is None else meta.pid,
        "killed": killed,
        "groups_killed": groups,
    }


def _said(text: str) -> int:
    print(text)
    return 0


def cmd_upgrade(args: TimeoutArgs, paths: InstancePaths) -> int:
    """Exec the installed procward in the daemon's place; the apps keep running."""
    return upgrade_in_place(paths, args.timeout, show="json" if args.json else "text")


def upgrade_in_place(paths: InstancePaths, timeout: float, *, show: str = "text") -> int:
    """``upgrade``: ask for it, wait for the new program to answer; the exit status.

    ``show``: what it prints on success: "text", "json" (the replies) or "nothing".
    """
    import time

    from procward.replies import Ping
    from procward.reports import UpgradeStarted

    deadline = time.monotonic() + timeout
    with connect(paths, spawn=False) as client:
        pinged = client.call("ping")
        before = Ping.from_dict(pinged)
        while True:  # "not now: web:0 is starting": a moment later it is not
            asked = time.time()
            try:
                started = client.call("upgrade")
                result = UpgradeStarted.from_dict(started)
                break
            except Conflict as exc:
                if not str(exc).startswith("not now") or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    while True:
        try:
            with connect(paths, spawn=False) as client:
                answer = client.call("ping")
                after = Ping.from_dict(answer)
            if time.time() - after.uptime >= asked - 0.01:  # started since we asked
                break
        except (KitError, OSError):  # the old program's last moments
            if _died(before.pid, paths):
                return fail(
                    f"the daemon (pid {before.pid}) died during the upgrade: see its log; "
                    "`procward status` starts it again and recovers the apps",
                    1,
                )
        if time.monotonic() > deadline:
            return fail(f"the daemon did not come back within {timeout:g}s: see its log", 1)
        time.sleep(0.02)
    kept = result.keeping
    if show == "json":
        render.as_json({"before": pinged, "upgrade": started, "after": answer})
    if show != "text":
        return 0
    print(
        f"procward upgraded in place: {before.version} -> {after.version} "
        f"(pid {after.pid}), {kept} process{'es' if kept != 1 else ''} kept running"
    )
    return 0


def _died(pid: int, paths: InstancePaths) -> bool:
    """Is the upgrading daemon gone: its pid ended and nothing holds the instance's lock?

    It keeps its pid and its lock across the upgrade's exec, so either one
    alive means it is still on its way.
    """
    from procward.kit._lock import lock_holder

    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return lock_holder(paths.lock) is None
    except PermissionError:
        return False


def cmd_kill(args: Globals, paths: InstancePaths) -> int:
    from procward.kit._control import kill

    was_running, meta = kill(paths)
    # Its apps too: a hung daemon's children are no use, and a new daemon would
    # end them anyway.
    code, groups = _end_apps(paths)
    if args.json:
        render.as_json(_ended(meta if was_running else None, killed=was_running, groups=groups))
        return code
    if not was_running or meta is None:
        print("procward is not running")
    else:
        print(f"procward killed (pid {meta.pid})")
    if groups:
        print(f"killed {_groups(groups, 'app ')}")
    return code


def _end_apps(paths: InstancePaths) -> tuple[int, int]:
    """SIGKILL the apps a dead daemon left: its exit status, and how many process groups.

    The daemon's module knows where they are (``--kill-leftovers``); the CLI
    does not import it, so it runs it and reads its "killed N ..." line.
    """
    argv = _daemon_argv(paths, "--kill-leftovers")
    read_end, write_end = os.pipe()
    try:
        pid = os.posix_spawn(
            argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)]
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as out:
        said = out.read().decode(errors="replace").split()
    _, status = os.waitpid(pid, 0)
    groups = int(said[1]) if said[:1] == ["killed"] and said[1:2] and said[1].isdigit() else 0
    return os.waitstatus_to_exitcode(status), groups


def _groups(count: int, of: str = "") -> str:
    return f"{count} {of}process group{'s' if count != 1 else ''}"


def cmd_info(args: Globals, paths: InstancePaths) -> int:
    from procward.kit._metadata import running

    liveness, meta = running(paths)
    info: dict[str, object] = {"daemon": liveness.value, **paths.as_dict()}
    if meta is not None:
        info["pid"] = meta.pid
        if meta.version:  # unknown while daemon.json is missing
            info["version"] = meta.version
        if meta.warnings:  # a listener open to the network in clear
            info["warnings"] = meta.warnings
        info["cgroups"] = _cgroups_in_use(paths)
    if args.json:
        render.as_json(info)
    else:
        warnings = info.pop("warnings", [])
        render.fields(list(info.items()))
        for text in warnings if isinstance(warnings, list) else ():
            print(f"warning: {text}")
    return 0


def _cgroups_in_use(paths: InstancePaths) -> str:
    """Whether the running daemon puts instances in cgroups, and where or why not."""
    from procward.kit._client import Client

    try:
        with Client.open(paths.socket, timeout=5.0) as client:
            view = client.call("status")["daemon"].get("cgroups")
    except Exception as exc:
        return f"unknown ({exc})"
    if not view:
        return "unknown (an older daemon)"
    if view.get("in_use") != "yes":
        return f"not in use: {view.get('reason')}"
    text = f"in use: {view['path']}, controllers: {', '.join(view['controllers']) or 'none'}"
    by_reason: dict[str, list[str]] = {}
    for name, why in (view.get("missing") or {}).items():
        by_reason.setdefault(why, []).append(name)
    return text + "".join(f"; no {', '.join(names)}: {why}" for why, names in by_reason.items())


def cmd_service(args: ServiceArgs, paths: InstancePaths) -> int:
    if args.json:
        render.as_json({"kind": args.kind, "units": _units(args, paths)})
        return 0
    for name, text in _units(args, paths).items():
        if args.kind == "launchd":
            sys.stdout.write(text)
        else:
            sys.stdout.write(f"# {name}\n{text}\n")
    return 0


def _units(args: ServiceArgs, paths: InstancePaths) -> dict[str, str]:
    """``{file name: text}`` of the units that run this instance's daemon."""
    from procward.cli.units import unit_name
    from procward.kit._units import launchd_plist, systemd_units

    exe = os.path.abspath(sys.argv[0]) if sys.argv[0].endswith("procward") else "procward"
    run = [exe, "--instance", paths.instance, "run"]
    env = {"PROCWARD_HOME": os.environ["PROCWARD_HOME"]} if "PROCWARD_HOME" in os.environ else {}
    if args.kind == "launchd":
        label = "dev.procward." + paths.instance
        plist = launchd_plist(label, run, log_path=paths.daemon_log, environment=env)
        return {f"{label}.plist": plist}
    return systemd_units(
        unit_name(paths),
        run,
        description=f"procward process supervisor ({paths.instance})",
        socket_path=paths.socket if args.socket else None,
        environment=env,
    )


def cmd_startup(args: StartupArgs, paths: InstancePaths) -> int:
    """PM2's ``startup``: write ``service``'s units where the init system finds them,
    then print the one command that enables them (writing needs no privilege;
    enabling is left to the user to run, as ``pm2 startup`` leaves its ``sudo``)."""
    from procward.cli.units import Systemd
    from procward.kit._atomic import write_atomic
    from procward.kit._lock import is_locked

    units = _units(args, paths)
    if args.kind == "launchd":
        directory = os.path.expanduser("~/Library/LaunchAgents")
    else:
        directory = Systemd.here().user_dirs[0]
    targets = {os.path.join(directory, name): text for name, text in units.items()}
    for path, text in targets.items():
        if _differs(path, text) and not args.force:
            return fail(f"{path} exists and differs: --force replaces it", 1)
    os.makedirs(directory, exist_ok=True)
    for path, text in targets.items():
        write_atomic(path, text.encode(), mode=0o644)
    enable = _enable_command(args, list(units), list(targets))
    if is_locked(paths.lock):  # two daemons of one instance: the unit's would fail to start
        enable = f"procward down && {enable}"
    at_boot = "loginctl enable-linger $USER" if args.kind == "systemd" else None
    if args.json:
        render.as_json(
            {"kind": args.kind, "written": list(targets), "enable": enable, "at_boot": at_boot}
        )
        return 0
    for path in targets:
        print(f"wrote {path}")
    print(f"enable it (starts it now, and at each login):\n  {enable}")
    if at_boot:
        print(f"at boot, before you log in: {at_boot}")
    return 0


def _differs(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() != text
    except FileNotFoundError:
        return False


def _enable_command(args: StartupArgs, names: list[str], files: list[str]) -> str:
    if args.kind == "launchd":
        return f"launchctl load -w {files[0]}"
    # With a socket unit, the socket is what starts the daemon (on the first connection).
    wanted = [name for name in names if name.endswith(".socket")] or names
    return f"systemctl --user enable --now {' '.join(wanted)}"


def cmd_save(args: Globals, paths: InstancePaths) -> int:
    """PM2's ``save``: nothing to do, and where it is already done."""
    if args.json:
        render.as_json({"saved": True, "state": paths.state})
        return 0
    print(
        "nothing to save: procward saves the apps and what should run at every change, "
        f"in {paths.state}.\n"
        "After a reboot, `procward up` (or `procward resurrect`) brings them back; "
        "`procward startup` does it at boot."
    )
    return 0


def cmd_doctor(args: Globals, paths: InstancePaths) -> int:
    """Check the instance without changing it (and without starting a daemon); the fixes."""
    from procward.cli.doctor import diagnose
    from procward.cli.findings import info, report
    from procward.cli.units import Systemd

    findings = diagnose(paths, Systemd.here())
    if os.environ.get("PROCWARD_CONNECT"):  # its files are on this machine, not there
        findings.insert(0, info("connect", "this machine's instance is checked, not --connect's"))
    problems = sum(finding.level == "problem" for finding in findings)
    if args.json:
        render.as_json({"problems": problems, "findings": [f.as_dict() for f in findings]})
    else:
        report(findings)
    return 1 if problems else 0
