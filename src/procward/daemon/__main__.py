"""``python -m procward.daemon``: the daemon process itself.

``procward run`` and auto-spawn both end up here, so the CLI never imports
the daemon (or anything heavy) to start one.
"""

from __future__ import annotations

import argparse
import sys

from procward.daemon.service import ProcwardDaemon
from procward.kit.paths import resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="procward run", description="Run the procward daemon.")
    parser.add_argument("--instance", help="instance name (default: $PROCWARD_INSTANCE or default)")
    parser.add_argument(
        "--detached", action="store_true", help="run as a background daemon with JSON logs"
    )
    parser.add_argument(
        "--idle-shutdown", type=float, metavar="SECONDS", help="stop after this long unused"
    )
    args = parser.parse_args(argv)
    try:
        paths = resolve("procward", args.instance)
    except ValueError as exc:
        parser.error(str(exc))
    return ProcwardDaemon(paths, idle_shutdown=args.idle_shutdown).run(detached=args.detached)


if __name__ == "__main__":
    sys.exit(main())
