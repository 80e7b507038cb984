"""The supervisors under test.

A ``System`` owns one daemon in a private temporary home: it starts it, names
the CLI commands to time, optionally runs RPC round trips, and stops it.
``cleanup()`` must leave no process behind whatever happened before (it runs
in a ``finally``), and never touches anything outside the system's own home.

Only procward is implemented. The peers of DESIGN.md's budget table
(supervisord, Circus, PM2) are added by implementing ``System`` and listing
the class in ``SYSTEMS``; their ``under_test`` is False, so the scenarios time
them alongside procward without holding them to procward's budgets.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from bench import procs
from bench.measure import Command, CommandFailed, run


@dataclass(frozen=True, slots=True)
class CliCase:
    """One CLI scenario of a system: ``key`` ("ping", "status") selects its budget."""

    key: str
    command: Command


class System(Protocol):
    name: str
    under_test: bool

    def start(self) -> float:
        """Start the daemon and wait until it serves; return the wall time taken (s)."""
        ...

    def stop(self) -> float:
        """Stop the daemon gracefully; return the wall time taken (s)."""
        ...

    def cleanup(self) -> None:
        """Make sure nothing of this system is left running; remove its home. Idempotent."""
        ...

    def daemon_pid(self) -> int: ...

    def cli_cases(self) -> list[CliCase]: ...

    def rpc_round_trips(self, calls: int, warmup: int) -> list[int] | None:
        """``calls`` round-trip times (ns) on one persistent connection, or None."""
        ...

    def __enter__(self) -> System: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ProcwardSystem:
    """procward, driven through its console script next to the interpreter."""

    name = "procward"
    under_test = True
    instance = "default"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.home = tempfile.mkdtemp(prefix="pwb-", dir="/tmp")
        self.exe = str(Path(sys.executable).parent / "procward")
        self.env = {**env, "PROCWARD_HOME": self.home}
        self.state_dir = Path(self.home, self.instance)
        self.forced: list[int] = []  # pids the clean-up had to SIGKILL
        self._daemon: procs.Proc | None = None
        self._closed = False

    def __enter__(self) -> ProcwardSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    @property
    def socket_path(self) -> str:
        return str(self.state_dir / "daemon.sock")

    def command(self, *args: str, label: str | None = None) -> Command:
        return Command(label or f"procward {' '.join(args)}", (self.exe, *args), self.env)

    def cli_cases(self) -> list[CliCase]:
        return [
            CliCase("ping", self.command("ping")),
            CliCase("status", self.command("status")),
        ]

    def start(self) -> float:
        started = time.perf_counter()
        try:
            run(self.command("up"))
        except CommandFailed as exc:
            raise CommandFailed(f"{exc}\n{self._daemon_log_tail()}") from None
        elapsed = time.perf_counter() - started
        self._daemon = self._read_daemon()
        if self._daemon is None or not self._daemon.is_alive():
            raise RuntimeError(f"procward up succeeded but no live daemon in {self.state_dir}")
        return elapsed

    def daemon_pid(self) -> int:
        if self._daemon is None:
            raise RuntimeError("the daemon is not started")
        return self._daemon.pid

    def stop(self) -> float:
        started = time.perf_counter()
        run(self.command("down", "--timeout", "10"))
        return time.perf_counter() - started

    def rpc_round_trips(self, calls: int, warmup: int) -> list[int]:
        from procward.kit.client import Client

        clock = time.perf_counter_ns
        samples = [0] * calls
        with Client.open(self.socket_path, timeout=10.0) as client:
            call = client.call
            for _ in range(warmup):
                call("ping")
            for i in range(calls):
                t0 = clock()
                call("ping")
                samples[i] = clock() - t0
        return samples

    def cleanup(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._down_quietly()
        finally:
            self._kill_leftovers()
            shutil.rmtree(self.home, ignore_errors=True)

    # -- internals ---------------------------------------------------------------

    def _read_daemon(self) -> procs.Proc | None:
        """The daemon named by daemon.json ("pid", "starttime"), if the file is there."""
        try:
            meta = json.loads((self.state_dir / "daemon.json").read_bytes())
        except (OSError, ValueError):
            return None
        pid, starttime = int(meta["pid"]), int(meta["starttime"])
        p = procs.proc(pid)
        # daemon.json records the start time in clock ticks since boot, as /proc does.
        return procs.Proc(pid, starttime) if p is None or p.starttime == starttime else None

    def _down_quietly(self) -> None:
        daemon = self._daemon or self._read_daemon()
        if daemon is None or not daemon.is_alive():
            return
        self._daemon = daemon
        try:
            run(self.command("down", "--timeout", "10"), timeout=30.0)
        except (CommandFailed, OSError, TimeoutError) as exc:
            print(f"bench: procward down failed: {exc}", file=sys.stderr)

    def _kill_leftovers(self) -> None:
        """SIGKILL, by pid, the daemon and anything else that runs with our home."""
        suspects = {p.pid: p for p in procs.with_environment("PROCWARD_HOME", self.home)}
        for p in (self._daemon, self._read_daemon()):
            if p is not None and p.is_alive():
                suspects[p.pid] = p
        for p in suspects.values():
            self.forced.append(p.pid)
            print(f"bench: SIGKILL leftover procward process {p.pid}", file=sys.stderr)
            if not procs.kill_and_wait(p):
                print(f"bench: process {p.pid} did not exit after SIGKILL", file=sys.stderr)

    def _daemon_log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.state_dir / "logs" / "daemon.log").read_text(errors="replace")
        except OSError:
            return "(no daemon log)"
        return "daemon log:\n" + "\n".join(text.splitlines()[-lines:])


SystemFactory = Callable[[Mapping[str, str]], System]

# The systems a run measures, in report order. Peers go here once implemented.
SYSTEMS: dict[str, SystemFactory] = {"procward": ProcwardSystem}
