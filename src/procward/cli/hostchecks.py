"""``procward doctor``'s checks of the host: the clock against the instance's files,
the space where the logs go, and the logs against what their rotation keeps.

Each is a function of paths (and of ``now`` or ``statvfs``, for tests), read-only.
"""

from __future__ import annotations

import os

from procward.cli.findings import Finding, info, ok, problem
from procward.cli.quantities import duration, size
from procward.kit._metadata import Liveness, Metadata
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CLOCK_SLACK = 2.0  # s: a file written "in the future" by less is a rounding, not a clock
# A file system is short of space below the smaller of these: 100 MiB on a
# big disk, 5 % on a small one (a 256 KiB tmpfs is not full at 200 KiB free).
LOW_SPACE = 100 << 20
LOW_INODES = 10_000
LOW_SHARE = 0.05


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
        kept, max_size = _rotation(spec)
        name = str(spec.get("name"))
        directory = os.path.join(paths.log_dir, name)
        size_now = _tree_size(directory)
        used, bound = used + size_now, bound + kept
        if kept and size_now > kept + max_size:  # slack: a file may pass its size by a line
            found.append(
                problem(
                    "logs",
                    f"{directory} holds {size(size_now)}, more than rotation keeps for "
                    f"{name} ({size(kept)}): files of instances scaled away, "
                    "or written by something else",
                    f"remove the files in {directory} no instance writes (its instances "
                    f"are 0 to {int(spec['instances']) - 1}); "
                    f"`procward flush {name}` empties the rest",
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


def _rotation(spec: dict[str, Any]) -> tuple[int, int]:
    """``(bytes an app's logs reach at most, its log_max_size)``; (0, 0) if unreadable.

    At most: instances x streams x (backups + 1) files of log_max_size each.
    """
    try:
        streams = 1 if spec.get("merge_logs") else 2
        files = int(spec["instances"]) * streams * (int(spec["log_backups"]) + 1)
        max_size = int(spec["log_max_size"])
    except (KeyError, TypeError, ValueError):
        return 0, 0
    return files * max_size, max_size


def _tree_size(directory: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
