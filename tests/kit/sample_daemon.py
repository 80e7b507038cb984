"""A small daemon on the kit, with knobs for misbehaving, used by the kit's tests.

python sample_daemon.py [--detached] [--idle S] [--ignore-term] [--slow-stop]
                        [--slow-start S] [--warn TEXT] [--shutdown-timeout S]
                        [--tcp] [--http] [limits: --max-connections N, --auth-timeout S...]
                        [--mangle-handover version|field|garbage]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
from typing import Any

from procward.kit import CallContext, Daemon, Role, method, resolve
from procward.kit._limits import Limits


class Sample(Daemon):
    prefix = "sample"
    version = "9.9"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(resolve("sample"), idle_shutdown=args.idle)
        self.args = args
        self.shutdown_timeout = args.shutdown_timeout
        self.vital_interval = args.vitals
        self.reloads = 0
        self.server.limits = Limits(
            unix=args.max_connections,
            unix_reserved=args.reserved,
            anonymous=args.anonymous,
            anonymous_per_address=args.per_address,
            authenticated=args.authenticated,
            auth_timeout=args.auth_timeout,
            read_timeout=args.read_timeout,
            idle_timeout=args.conn_idle,
        )

    async def on_start(self) -> None:
        if self.args.ignore_term:
            loop = asyncio.get_running_loop()
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for text in self.args.warn or ():
            self.start_warning(text)
        if self.args.slow_start:
            await asyncio.sleep(self.args.slow_start)
        if self.args.fail_start:
            raise RuntimeError("refusing to start: " + self.args.fail_start)
        if self.args.tcp:
            await self.network.listen("127.0.0.1:0")
        if self.args.http:
            await self.network.listen_http("127.0.0.1:0")

    async def on_stop(self) -> None:
        if self.args.slow_stop:
            await asyncio.sleep(3600)

    def on_reload(self) -> None:
        self.reloads += 1

    def preflight_argv(self) -> list[str]:
        if self.args.broken_upgrade:
            return [
                sys.executable,
                "-c",
                "raise SystemExit('SyntaxError: the new build is broken')",
            ]
        return super().preflight_argv()

    async def on_handover(self) -> tuple[dict[str, Any], list[int]]:
        return {"reloads": self.reloads}, []

    @method(Role.VIEWER)
    def handed(self, ctx: CallContext) -> Any:
        return self.handed_over

    @method(Role.VIEWER)
    def echo(self, ctx: CallContext, value: Any = None) -> Any:
        return value

    @method(Role.VIEWER)
    def listening(self, ctx: CallContext) -> dict[str, str]:
        return self.addresses()

    @method(Role.VIEWER)
    def connections(self, ctx: CallContext) -> int:
        return len(self.server.connections)

    @method(Role.VIEWER)
    def in_flight(self, ctx: CallContext) -> int:
        return len(self.server.in_flight)

    @method(Role.VIEWER)
    def reloaded(self, ctx: CallContext) -> int:
        return self.reloads

    @method(Role.VIEWER)
    async def sleep(self, ctx: CallContext, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @method(Role.VIEWER)
    async def count(self, ctx: CallContext, n: int, size: int = 10) -> int:
        for i in range(n):
            await ctx.notify("tick", {"i": i, "pad": "x" * size})
        return n

    @method(Role.VIEWER, stream=True)
    async def forever(self, ctx: CallContext) -> None:
        await ctx.notify("started", {})
        await asyncio.Event().wait()  # until the client hangs up

    @method(Role.VIEWER)
    def boom(self, ctx: CallContext) -> None:
        raise ValueError("kaboom")

    @method(Role.VIEWER)
    def unencodable(self, ctx: CallContext) -> object:
        return object()

    @method(Role.ADMIN)
    def admin_only(self, ctx: CallContext) -> str:
        return "ok"


def mangle_handover(how: str) -> None:
    """Be a program that cannot read its hand-over: another version's, or a damaged one."""
    path = os.environ.get("SAMPLE_HANDOVER")
    if not path:
        return
    with open(path) as f:
        data = json.load(f)
    if how == "version":
        data["version"] = data["format"] = 99
    elif how == "field":
        data["lock_fd"] = "three"
    with open(path, "w") as f:
        f.write("{not json" if how == "garbage" else json.dumps(data))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detached", action="store_true")
    parser.add_argument("--idle", type=float)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--slow-stop", action="store_true")
    parser.add_argument("--slow-start", type=float)
    parser.add_argument("--warn", action="append")
    parser.add_argument("--fail-start")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--conn-idle", type=float, default=600.0)
    parser.add_argument("--reserved", type=int, default=4)
    parser.add_argument("--anonymous", type=int, default=64)
    parser.add_argument("--per-address", type=int, default=16)
    parser.add_argument("--authenticated", type=int, default=256)
    parser.add_argument("--auth-timeout", type=float, default=5.0)
    parser.add_argument("--read-timeout", type=float, default=10.0)
    parser.add_argument("--nofile", type=int)
    parser.add_argument("--tcp", action="store_true")  # listen on 127.0.0.1, a free port
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--shutdown-timeout", type=float, default=25.0)
    parser.add_argument("--vitals", type=float, default=10.0)
    parser.add_argument("--check", action="store_true")  # an upgrade's pre-flight
    parser.add_argument("--broken-upgrade", action="store_true")
    parser.add_argument("--mangle-handover", choices=["version", "field", "garbage"])
    args = parser.parse_args()
    if args.check:
        return 0
    if args.mangle_handover:
        mangle_handover(args.mangle_handover)
    if args.nofile:  # a daemon short of descriptors, as under a low `ulimit -n`
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    return Sample(args).run(detached=args.detached)


if __name__ == "__main__":
    sys.exit(main())
