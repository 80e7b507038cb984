"""counterd: a key -> counter daemon built on procward.kit, with its own CLI.

python examples/counterd.py incr hits 5   # starts the daemon when needed; prints 5
python examples/counterd.py get hits      # 5
python examples/counterd.py stop          # graceful: saves, removes its socket, exits
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from procward import kit  # `kit.CallContext` must resolve at run time: hints are checked

PREFIX = "counterd"  # files in $COUNTERD_HOME/<instance>/, or the XDG runtime and state dirs
HERE = os.path.abspath(__file__)  # absolute: a detached daemon runs in "/"


def parse_counts(raw: bytes) -> dict[str, int]:  # raising here makes the kit try the .bak
    return {str(k): int(v) for k, v in json.loads(raw).items()}


class CounterDaemon(kit.Daemon):
    prefix = PREFIX
    version = "1.0"
    counts: dict[str, int]

    async def on_start(self) -> None:
        self.counts = kit.read_with_fallback(self.paths.state, parse_counts) or {}

    async def on_stop(self) -> None:
        self.commit(self.counts)

    def commit(self, counts: dict[str, int]) -> None:
        """Write first, then adopt: no answer runs ahead of the disk."""
        kit.write_atomic(self.paths.state, json.dumps(counts).encode(), backup=True)
        self.counts = counts

    @kit.method(kit.Role.OPERATOR)
    def incr(self, ctx: kit.CallContext, name: str, by: int = 1) -> int:
        value = self.counts.get(name, 0) + by
        self.commit({**self.counts, name: value})
        return value

    @kit.method(kit.Role.VIEWER)
    def get(self, ctx: kit.CallContext, name: str) -> int:
        return self.counts.get(name, 0)

    @kit.method(kit.Role.OPERATOR)
    def reset(self, ctx: kit.CallContext, name: str) -> int:
        old = self.counts.get(name, 0)
        self.commit({k: v for k, v in self.counts.items() if k != name})
        return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="counterd", description="A key -> counter daemon.")
    parser.add_argument("-i", "--instance", help="daemon instance (default: $COUNTERD_INSTANCE)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon (in the foreground unless --detached)")
    run.add_argument("--detached", action="store_true", help="log JSON lines to a file")
    incr = sub.add_parser("incr", help="add BY (default 1) to a counter, print the new value")
    incr.add_argument("name")
    incr.add_argument("by", nargs="?", type=int, default=1)
    sub.add_parser("get", help="print a counter").add_argument("name")
    sub.add_parser("reset", help="forget a counter, print its old value").add_argument("name")
    sub.add_parser("stop", help="stop the daemon gracefully")
    args = parser.parse_args(argv)
    try:
        paths = kit.resolve(PREFIX, args.instance)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "run":
        return CounterDaemon(paths).run(detached=args.detached)
    try:
        if args.command == "stop":
            _, meta = kit.stop(paths)
            print(f"counterd stopped (pid {meta.pid})" if meta else "counterd is not running")
        else:
            params = {k: v for k, v in vars(args).items() if k in ("name", "by")}
            spawn = [sys.executable, HERE, "--instance", paths.instance, "run", "--detached"]
            with kit.connect(paths, spawn_argv=spawn) as client:
                print(client.call(args.command, params))
    except (kit.KitError, OSError) as exc:
        print(f"counterd: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
