"""A description of the machine and the code a report was measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def describe(repo: Path) -> list[tuple[str, str]]:
    load1, load5, _ = os.getloadavg()
    return [
        ("CPU", _cpu_model()),
        ("nproc", f"{len(os.sched_getaffinity(0))} (of {os.cpu_count()} online)"),
        ("memory", _mem_total()),
        ("kernel", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("interpreter", sys.executable),
        ("procward", f"{_procward_version()} at {_commit(repo)}"),
        ("load average at start", f"{load1:.2f} (1 min), {load5:.2f} (5 min)"),
    ]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _procward_version() -> str:
    from procward._version import __version__

    return __version__


def _commit(repo: Path) -> str:
    """The checked-out commit, "+dirty" with local changes. Read-only git commands only."""
    git = ["git", "--no-optional-locks", "-C", str(repo)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"{head}{'+dirty' if dirty else ''}"
