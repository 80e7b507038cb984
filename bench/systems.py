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
import subprocess
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
from procward.kit.paths import resolve


@dataclass(frozen=True, slots=True)
class CliCase:
    """One CLI scenario of a system: ``key`` ("ping", "status") selects its budget."""

    key: str
    command: Command


class System(Protocol):
    name: str
    under_test: bool
    warnings: list[str]  # anything the report must mention, e.g. a forced clean-up

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
        self.paths = resolve("procward", self.instance, env=self.env)
        self.warnings: list[str] = []
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

    def command(self, *args: str) -> Command:
        return Command(f"procward {' '.join(args)}", (self.exe, *args), self.env)

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
            raise RuntimeError(f"procward up succeeded but no live daemon in {self.home}")
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
        with Client.open(self.paths.socket, timeout=10.0) as client:
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
            with open(self.paths.metadata, "rb") as f:
                meta = json.load(f)
            pid, starttime = int(meta["pid"]), int(meta["starttime"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
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
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            self._warn(f"`procward down` failed during clean-up: {exc}")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"bench: {self.name}: {message}", file=sys.stderr)

    def _kill_leftovers(self) -> None:
        """SIGKILL, by pid, the daemon and anything else that runs with our home."""
        suspects = {p.pid: p for p in procs.with_environment("PROCWARD_HOME", self.home)}
        for p in (self._daemon, self._read_daemon()):
            if p is not None and p.is_alive():
                suspects[p.pid] = p
        for p in suspects.values():
            exited = procs.kill_and_wait(p)
            self._warn(
                f"process {p.pid} was still running after `procward down`; "
                + ("SIGKILLed it" if exited else "it survived SIGKILL")
            )

    def _daemon_log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self.paths.daemon_log).read_text(errors="replace")
        except OSError:
            return "(no daemon log)"
        return "daemon log:\n" + "\n".join(text.splitlines()[-lines:])


SystemFactory = Callable[[Mapping[str, str]], System]

# The systems a run measures, in report order. Peers go here once implemented.
SYSTEMS: dict[str, SystemFactory] = {"procward": ProcwardSystem}
