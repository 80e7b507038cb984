"""``python -m procward.daemon``: the daemon process itself.

``procward run`` and auto-spawn both end up here, so the CLI never imports
the daemon (or anything heavy) to start one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from procward.daemon.service import ProcwardDaemon
from procward.kit.lock import is_locked
from procward.kit.paths import InstancePaths, resolve
from procward.supervision import state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="procward run", description="Run the procward daemon.")
    parser.add_argument("--instance", help="instance name (default: $PROCWARD_INSTANCE or default)")
    parser.add_argument(
        "--detached", action="store_true", help="run as a background daemon with JSON logs"
    )
    parser.add_argument(
        "--idle-shutdown", type=float, metavar="SECONDS", help="stop after this long unused"
    )
    parser.add_argument(
        "--kill-leftovers",
        action="store_true",
        help="SIGKILL the app processes a dead daemon left (what `procward kill` runs)",
    )
    args = parser.parse_args(argv)
    try:
        paths = resolve("procward", args.instance)
    except ValueError as exc:
        parser.error(str(exc))
    if args.kill_leftovers:
        return kill_leftovers(paths)
    return ProcwardDaemon(paths, idle_shutdown=args.idle_shutdown).run(detached=args.detached)


def kill_leftovers(paths: InstancePaths) -> int:
    """SIGKILL every app process group of this instance; only when no daemon runs."""
    if is_locked(paths.lock):
        print("procward: the daemon is running; use `procward down`", file=sys.stderr)
        return 1
    groups = state.leftovers(state.load(paths.state), paths.state_dir)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group.pgid, signal.SIGKILL)
    if groups:
        print(f"killed {len(groups)} app process group{'s' if len(groups) != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
