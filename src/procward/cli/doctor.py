"""``procward doctor``: what is wrong with this instance, each with its fix.

People run it when something is wrong, often with the daemon down, so it
never starts one: it reads the instance's files and asks the daemon only if
one answers on the socket already. It changes nothing. Each check is a
small function of paths (and of the daemon's reply, when there is one) that
returns findings (``findings.py``), so a test plants one problem in a
temporary home and runs the command, or calls the check. The instance's
files, the daemon and the unit are checked here; the clock, the disk and
the logs in ``hostchecks.py``.
"""

from __future__ import annotations

import os
import time

from procward.cli.findings import Finding, info, ok, problem
from procward.cli.hostchecks import check_clock, check_disk, check_logs
from procward.cli.quantities import duration
from procward.cli.units import Systemd, UnitFiles, find_unit, unit_name
from procward.kit._errors import KitError, UnsafeDirectory
from procward.kit._metadata import Liveness, Metadata, running
from procward.kit._paths import InstancePaths, check_private, check_private_dir
from procward.kit._procinfo import boot_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ASK_TIMEOUT = 3.0  # s: a daemon that takes longer to answer `status` is itself a finding


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
