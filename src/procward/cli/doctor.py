"""``procward doctor``: what is wrong with this instance, each with its fix.

People run it when something is wrong, often with the daemon down, so it
never starts one: it reads the instance's files and asks the daemon only if
one answers on the socket already. It changes nothing. Each check is a
small function of paths (and of the daemon's reply, when there is one) that
returns findings, so a test plants one problem in a temporary home and runs
the command, or calls the check.

A finding is a *problem* (exit status 1) when procward does not work as it
should until someone acts, and then it carries the command or the change
that fixes it; an *info* when it is a choice or a fact of the host (cgroups
turned off, no systemd here) worth knowing; *ok* otherwise, so that the
output shows what was looked at.
"""

from __future__ import annotations

import os
import time

from procward.cli.render import duration, size
from procward.cli.units import Systemd, UnitFiles, find_unit, unit_name
from procward.kit._errors import KitError, UnsafeDirectory
from procward.kit._metadata import Liveness, Metadata, running
from procward.kit._paths import InstancePaths, check_private, check_private_dir
from procward.kit._procinfo import boot_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ASK_TIMEOUT = 3.0  # s: a daemon that takes longer to answer `status` is itself a finding
CLOCK_SLACK = 2.0  # s: a file written "in the future" by less is a rounding, not a clock
# A file system is short of space below the smaller of these: 100 MiB on a
# big disk, 5 % on a small one (a 256 KiB tmpfs is not full at 200 KiB free).
LOW_SPACE = 100 << 20
LOW_INODES = 10_000
LOW_SHARE = 0.05


class Finding:
    """One line of the report: which check, how bad, what is so, and the fix."""

    __slots__ = ("check", "fix", "level", "text")

    def __init__(self, check: str, level: str, text: str, fix: str = "") -> None:
        self.check = check
        self.level = level  # "ok", "info" or "problem"
        self.text = text
        self.fix = fix

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "text": self.text, "fix": self.fix}

    def __repr__(self) -> str:
        return f"Finding({self.check!r}, {self.level!r}, {self.text!r}, fix={self.fix!r})"


def ok(check: str, text: str) -> Finding:
    return Finding(check, "ok", text)


def info(check: str, text: str, fix: str = "") -> Finding:
    return Finding(check, "info", text, fix)


def problem(check: str, text: str, fix: str) -> Finding:
    return Finding(check, "problem", text, fix)


def diagnose(paths: InstancePaths, systemd: Systemd) -> list[Finding]:
    """Every check, in the order a reader fixes things: files, daemon, host."""
    liveness, meta = running(paths)
    status, error = ask_daemon(paths)
    unit = find_unit(unit_name(paths), systemd)
    return [
        *check_dirs(paths),
        *check_lock(paths, liveness, meta),
        *check_socket(paths, liveness),
        *check_daemon(status, error, start_command(unit, systemd)),
        *check_unit(unit, systemd),
        *check_cgroups(status),
        *check_clock(paths, time.time(), boot_id(), meta, liveness),
        *check_disk(paths.log_dir),
        *check_logs(paths),
    ]


# -- the instance's files -------------------------------------------------------------


def check_dirs(paths: InstancePaths) -> list[Finding]:
    """The instance's directories: ours and 0700, by the rule the daemon enforces."""
    wanted = dict.fromkeys(
        (*paths.private_parents, paths.runtime_dir, paths.state_dir, paths.log_dir)
    )
    found = []
    for directory in wanted:
        try:
            check_private_dir(directory)
        except FileNotFoundError:
            found.append(info("dirs", f"{directory} does not exist yet (the daemon makes it)"))
        except UnsafeDirectory as exc:
            text, _, fix = str(exc).partition(" Fix it with: ")
            other = f"move {directory} aside, or use another home (PROCWARD_HOME)"
            found.append(problem("dirs", text, fix or other))
    if not found:
        found.append(ok("dirs", f"{len(wanted)} directories, each yours and private (0700)"))
    return found


def check_lock(paths: InstancePaths, liveness: Liveness, meta: Metadata | None) -> list[Finding]:
    """Held by a live daemon, free, or free with the files of a daemon that died."""
    if liveness is Liveness.RUNNING:
        return [ok("lock", f"held by the daemon (pid {meta.pid if meta else '?'})")]
    if liveness is Liveness.STALE:
        pid = f"pid {meta.pid}" if meta else "unknown pid"
        return [
            problem(
                "lock",
                f"the last daemon ({pid}) died without cleaning up: {paths.metadata} is left",
                f"read why at the end of {paths.daemon_log}; `procward up` then ends what "
                "it left and starts its apps again",
            )
        ]
    return [ok("lock", "free: no daemon runs")]


def check_socket(paths: InstancePaths, liveness: Liveness) -> list[Finding]:
    """The socket: there when a daemon runs, a socket, 0600, and someone listening."""
    import stat

    try:
        st = os.lstat(paths.socket)
    except FileNotFoundError:
        if liveness is Liveness.RUNNING:
            return [_unreachable(paths, "no socket file")]
        return [ok("socket", "none, as no daemon runs")]
    if not stat.S_ISSOCK(st.st_mode):
        return [
            problem(
                "socket",
                f"{paths.socket} is not a socket: no daemon can listen there",
                f"move it aside: mv {paths.socket} {paths.socket}.aside",
            )
        ]
    try:
        check_private(paths.socket, st, "0600")
    except UnsafeDirectory as exc:
        text, _, fix = str(exc).partition(" Fix it with: ")
        return [problem("socket", text, fix or f"rm {paths.socket}; procward up")]
    if _listening(paths.socket):
        return [ok("socket", f"{paths.socket}: 0600, listening")]
    if liveness is Liveness.RUNNING:
        return [_unreachable(paths, "nobody listens on its socket")]
    return [
        problem(
            "socket",
            f"{paths.socket} is stale: nobody listens (left by a daemon that died)",
            "procward up (it removes the stale socket and starts the daemon)",
        )
    ]


def _unreachable(paths: InstancePaths, why: str) -> Finding:
    return problem(
        "socket",
        f"the daemon holds the lock but {why}: no command reaches it",
        "procward down (it stops the daemon by signal); then procward up",
    )


def _listening(path: str) -> bool:
    from procward.kit._client import Client

    try:
        Client.open(path, timeout=ASK_TIMEOUT).close()
    except OSError:
        return False
    return True


# -- the daemon -----------------------------------------------------------------------


def ask_daemon(paths: InstancePaths) -> tuple[dict[str, Any] | None, str]:
    """The daemon's ``status`` if one answers on the socket (never started), or why not."""
    from procward.kit._client import Client

    try:
        with Client.open(paths.socket, timeout=ASK_TIMEOUT) as client:
            client.call("ping")
            status: dict[str, Any] = client.call("status")
    except (FileNotFoundError, ConnectionRefusedError):
        return None, ""
    except (OSError, KitError) as exc:
        return None, str(exc) or type(exc).__name__
    return status, ""


def start_command(unit: UnitFiles, systemd: Systemd) -> str:
    """How this instance's daemon is started here: by its enabled unit, else ``up``."""
    if systemd.booted and unit.enabled:
        return systemd.systemctl(unit, "start")
    return "procward up"


def check_daemon(status: dict[str, Any] | None, error: str, start: str) -> list[Finding]:
    """Does the daemon answer, and does it warn of something (a state it cannot save...)?"""
    if status is None:
        if error:
            return [problem("daemon", f"the daemon does not answer: {error}", start)]
        return [problem("daemon", "the daemon is not running", start)]
    daemon = status.get("daemon", {})
    found = [
        ok(
            "daemon",
            f"answers: procward {daemon.get('version')} (pid {daemon.get('pid')}, "
            f"up {duration(float(daemon.get('uptime', 0)))})",
        )
    ]
    for text in status.get("warnings") or ():
        found.append(problem("daemon", f"the daemon warns: {text}", "see: procward status"))
    return found


def check_cgroups(status: dict[str, Any] | None) -> list[Finding]:
    """Whether the daemon puts each instance in a cgroup; if not, why, and is that a choice."""
    if status is None:
        return [info("cgroups", "unknown while the daemon is down (it finds out at start)")]
    view = status.get("daemon", {}).get("cgroups")
    if not view:
        return [info("cgroups", "unknown: an older daemon does not say")]
    if view.get("in_use") == "yes":
        return [ok("cgroups", f"each instance in a cgroup of its own, under {view.get('path')}")]
    reason = str(view.get("reason"))
    if reason.startswith("turned off"):
        return [info("cgroups", f"not used: {reason}")]
    return [problem("cgroups", f"not used: {reason}", _cgroup_fix(reason))]


def _cgroup_fix(reason: str) -> str:
    """The change that gives the daemon its cgroups, by the reason ``delegation`` gave."""
    if "no such cgroup" in reason:
        return "make that cgroup, or unset PROCWARD_CGROUP (PROCWARD_CGROUP=off: no cgroups)"
    if "no cgroup v2" in reason:
        return (
            "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or say that "
            "process groups are enough: PROCWARD_CGROUP=off"
        )
    return (
        "run the daemon where its cgroup is delegated to it: `procward startup` writes a "
        "systemd unit with Delegate=yes; a container needs a writable cgroup namespace "
        "of its own; or PROCWARD_CGROUP=off to go without"
    )


# -- systemd ----------------------------------------------------------------------------


def check_unit(unit: UnitFiles, systemd: Systemd) -> list[Finding]:
    """A unit that starts this instance at boot: written, enabled, and (user units) lingering."""
    if not systemd.booted:
        return [
            info(
                "unit",
                "systemd does not run here: nothing starts procward at boot unless you "
                "run `procward run` from your init system or container",
            )
        ]
    if unit.path is None:
        return [
            problem(
                "unit",
                f"no {unit.service} unit: nothing starts this instance at boot",
                "procward startup (writes the unit and prints the command that enables it)",
            )
        ]
    if not unit.enabled:
        return [
            problem(
                "unit",
                f"{unit.path} is not enabled: it does not start at boot",
                systemd.systemctl(unit, "enable --now"),
            )
        ]
    found = [ok("unit", f"{unit.path}, enabled")]
    if unit.user and not systemd.lingers():
        found.append(
            info(
                "unit",
                f"{systemd.user}'s units start at login, not at boot",
                f"loginctl enable-linger {systemd.user}",
            )
        )
    return found


# -- the host -------------------------------------------------------------------------


def check_clock(
    paths: InstancePaths, now: float, boot: str, meta: Metadata | None, liveness: Liveness
) -> list[Finding]:
    """Not behind the state files' times; and the boot of the daemon that wrote ``daemon.json``."""
    found = []
    newest = _newest_file(paths.state_dir, paths.log_dir)
    if newest is not None and newest[1] > now + CLOCK_SLACK:
        name, mtime = newest
        found.append(
            problem(
                "clock",
                f"the clock is {duration(mtime - now)} behind {name}'s time: it went back "
                "(backoff, uptime days and --since go by it)",
                "set the clock right (timedatectl set-ntp true, or your NTP client)",
            )
        )
    if meta is not None and meta.boot_id and boot and meta.boot_id != boot:
        if liveness is Liveness.RUNNING:
            found.append(info("clock", "daemon.json names another boot: the daemon rewrites it"))
        else:
            found.append(info("clock", "the last daemon ran before the machine restarted"))
    if not found:
        found.append(ok("clock", "not behind the instance's files"))
    return found


def _newest_file(*directories: str) -> tuple[str, float] | None:
    """The most recently modified file directly in ``directories``, and its mtime."""
    newest: tuple[str, float] | None = None
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    if newest is None or mtime > newest[1]:
                        newest = (entry.path, mtime)
            except OSError:
                continue
    return newest


def check_disk(
    log_dir: str, statvfs: Callable[[str], os.statvfs_result] = os.statvfs
) -> list[Finding]:
    """Space and inodes on the log dir's file system: below the threshold, a problem.

    What happens while it is full (decision 0031): the apps run on, their
    output is dropped (counted), and changes to what should run are not saved.
    """
    where = _existing(log_dir)
    st = statvfs(where)
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    fix = (
        f"free space on the file system of {where}: `procward flush [APP]` empties "
        "apps' logs and deletes their backups; lower log_max_size or log_backups"
    )
    if free < min(LOW_SPACE, total * LOW_SHARE):
        return [
            problem(
                "disk",
                f"{size(free)} free of {size(total)} where the logs are ({where}): app output "
                "is dropped and state changes are not saved while it is full",
                fix,
            )
        ]
    if st.f_files and st.f_favail < min(LOW_INODES, st.f_files * LOW_SHARE):
        return [problem("disk", f"{st.f_favail} inodes free of {st.f_files} on {where}", fix)]
    return [ok("disk", f"{size(free)} free of {size(total)} where the logs are")]


def _existing(path: str) -> str:
    """``path`` or its nearest existing parent: the file system it is (or will be) on."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_logs(paths: InstancePaths) -> list[Finding]:
    """Each app's log files against what its rotation keeps; all of them against free space."""
    apps = _saved_apps(paths.state)
    if not apps:
        return []
    found, used, bound = [], 0, 0
    for spec in apps:
        kept = _rotation_bound(spec)
        directory = os.path.join(paths.log_dir, str(spec.get("name")))
        size_now = _tree_size(directory)
        used, bound = used + size_now, bound + kept
        if size_now > kept + int(spec.get("log_max_size", 0)):
            found.append(
                problem(
                    "logs",
                    f"{directory} holds {size(size_now)}, more than rotation keeps for "
                    f"{spec.get('name')} ({size(kept)}): files of instances scaled away, "
                    "or written by something else",
                    f"remove the files in {directory} no instance writes (its instances "
                    f"are 0 to {int(spec.get('instances', 1)) - 1}); "
                    f"`procward flush {spec.get('name')}` empties the rest",
                )
            )
    st = os.statvfs(_existing(paths.log_dir))
    free = st.f_bavail * st.f_frsize
    if bound - used > free:
        found.append(
            problem(
                "logs",
                f"rotation lets the apps' logs grow to {size(bound)}; {size(free)} is free",
                "lower log_max_size or log_backups in the apps' config, or free space",
            )
        )
    if not found:
        found.append(ok("logs", f"{size(used)} of logs, at most {size(bound)} by rotation"))
    return found


def _saved_apps(state: str) -> list[dict[str, Any]]:
    """The specs in ``state.json`` (resolved: sizes in bytes), or none if it cannot be read."""
    import json

    try:
        with open(state, "rb") as f:
            saved = json.loads(f.read())
        return [app["spec"] for app in saved["apps"] if isinstance(app.get("spec"), dict)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _rotation_bound(spec: dict[str, Any]) -> int:
    """Bytes an app's logs reach at most: instances x streams x (backups + 1) x max size."""
    try:
        streams = 1 if spec.get("merge_logs") else 2
        files = int(spec["instances"]) * streams * (int(spec["log_backups"]) + 1)
        return files * int(spec["log_max_size"])
    except (KeyError, TypeError, ValueError):
        return 0


def _tree_size(directory: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


# -- the report -----------------------------------------------------------------------

LABELS = {"ok": "ok", "info": "info", "problem": "PROBLEM"}


def report(findings: list[Finding]) -> None:
    """One line per finding, its fix on the next; a count of problems at the end."""
    width = max(len(label) for label in LABELS.values())
    for finding in findings:
        print(f"{LABELS[finding.level]:<{width}}  {finding.check}: {finding.text}")
        if finding.fix:
            print(f"{'':<{width}}  fix: {finding.fix}")
    problems = sum(finding.level == "problem" for finding in findings)
    print(f"{problems} problem{'s' if problems != 1 else ''}" if problems else "no problems")
