"""The supervisors under test.

A ``System`` owns one daemon in a private temporary home: it starts it, names
the CLI commands to time, optionally runs RPC round trips, and stops it.
``cleanup()`` must leave no process behind whatever happened before (it runs
in a ``finally``), and never touches anything outside the system's own home.

An ``AppSystem`` is a ``System`` that also supervises apps: the supervision
scenarios (``bench.supervision``) give each measurement a fresh one, write the
apps into its home in its own config format (``write_config``), start daemon
and apps with one command (``up_command``) and watch the instances over one
persistent connection (``instances``).

procward is implemented here, supervisord in ``bench.supervisord``, Circus in
``bench.circus_peer`` and PM2 in ``bench.pm2_peer``, each a ``bench.peerbase.PeerSystem``.
Any other peer is added the same way: implement ``System`` (and ``AppSystem``),
usually by subclassing ``PeerSystem``, and list a factory in ``SYSTEMS``
(and ``APP_SYSTEMS``); their ``under_test`` is False, so the scenarios time
them alongside procward without holding them to procward's budgets. A
factory may raise ``bench.peers.PeerUnavailable``: the run goes on without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from bench import procs
from bench.measure import Command, CommandFailed, run
from procward.kit._client import Client
from procward.kit._paths import resolve

UPGRADED = "procward upgraded in place:"  # what `procward upgrade` prints on success


@dataclass(frozen=True, slots=True)
class CliCase:
    """One CLI scenario of a system: ``key`` ("ping", "status") selects its budget."""

    key: str
    command: Command


@dataclass(frozen=True, slots=True)
class LogSpec:
    """How an app's stdout is kept: rotated past ``max_size`` bytes, ``backups`` kept."""

    max_size: int
    backups: int
    timestamps: bool = False  # prefix every line with the time (procward's `log_time`)


@dataclass(frozen=True, slots=True)
class AppDef:
    """One app to supervise, as every system can express it: ``argv`` is taken literally."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    # Restart at once after every exit, however often (the crash scenario): no
    # backoff, and a restart budget the run cannot spend.
    restart_at_once: bool = False
    # Run once, never restart (the log scenario's writer); exclusive with the above.
    run_once: bool = False
    log: LogSpec | None = None  # None: the system's default log handling


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as the system's status shows it."""

    app: str
    index: int
    state: str  # normalised: "running" means spawned and counted as running
    pid: int | None
    restarts: int
    started_at: float | None = None  # Unix time of the spawn, by the daemon's clock, if shown


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


class AppSystem(System, Protocol):
    home: str  # the system's private temporary directory; scenarios may put files in it

    def write_config(self, apps: Sequence[AppDef]) -> str:
        """Write ``apps`` as a config file into the home; return its path."""
        ...

    def up_command(self, config: str) -> Command:
        """The command that starts the daemon (not running yet) and ``config``'s apps."""
        ...

    def attach(self) -> None:
        """Learn the daemon ``up_command`` started (after it returned); raise if there is none."""
        ...

    def instances(self) -> list[InstanceView] | None:
        """Every instance, over one persistent connection; None while nothing answers."""
        ...

    def disconnect(self) -> None:
        """Close the persistent connection (before measuring an idle daemon)."""
        ...

    def start_all(self) -> None:
        """Start every app, over the persistent connection; return once they started."""
        ...

    def status_command(self) -> Command: ...

    def stop_all_command(self) -> Command: ...

    def log_files(self, app: str, backups: int) -> list[str]:
        """Where instance 0 of ``app`` keeps its stdout: ``backups`` backups oldest first,
        then the live file (paths that may not exist yet)."""
        ...

    def supports_timestamps(self) -> bool:
        """Can ``LogSpec.timestamps`` be honoured?"""
        ...

    def upgrade_label(self) -> str:
        """How ``upgrade`` replaces the daemon, for the report (Markdown)."""
        ...

    def upgrade(self) -> None:
        """Replace the running daemon's program with the installed one, the system's own
        documented way (in place where it has one; else quit and start again with the same
        config); return once its command(s) returned and the daemon is known again."""
        ...

    def __enter__(self) -> AppSystem: ...


class CleansUp:
    """A context manager whose exit is ``cleanup()``, however the block ended.

    Every system is held in a ``with``: an exception halfway through a
    measurement must still leave no process and no temporary home behind.
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """End every process the system started and remove its home; safe to call twice."""
        raise NotImplementedError


class ProcwardSystem(CleansUp):
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
        self._client: Client | None = None
        self._apps_seen: dict[int, procs.Proc] = {}  # every app process status showed us

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

    # -- apps (AppSystem) ----------------------------------------------------------

    def write_config(self, apps: Sequence[AppDef]) -> str:
        lines = []
        for app in apps:
            lines.append(f"[apps.{_toml_str(app.name)}]")
            # procward expands $VAR, {instance} in cmd and {instance} in env: escape them.
            argv = ", ".join(_toml_str(_escape_cmd(arg)) for arg in app.argv)
            lines += [f"cmd = [{argv}]", "instances = 1"]  # min_start as users leave it
            if app.env:
                pairs = ", ".join(
                    f"{_toml_str(k)} = {_toml_str(_escape_braces(v))}" for k, v in app.env.items()
                )
                lines.append(f"env = {{ {pairs} }}")
            if app.restart_at_once:
                lines += [
                    'restart = "always"',
                    'backoff = { initial = "0s", multiplier = 2, max = "0s" }',
                    "max_restarts = 1000000",
                ]
            if app.run_once:
                lines.append('restart = "never"')
            if app.log is not None:
                lines += [
                    f"log_max_size = {app.log.max_size}",
                    f"log_backups = {app.log.backups}",
                    f"log_time = {'true' if app.log.timestamps else 'false'}",
                ]
            lines.append("")
        path = os.path.join(self.home, "procward.toml")
        Path(path).write_text("\n".join(lines))
        return path

    def up_command(self, config: str) -> Command:
        return self.command("up", "-c", config)

    def status_command(self) -> Command:
        return self.command("status")

    def stop_all_command(self) -> Command:
        return self.command("stop", "all")

    def log_files(self, app: str, backups: int) -> list[str]:
        live = os.path.join(self.paths.log_dir, app, "0.out")
        return [*(f"{live}.{n}" for n in range(backups, 0, -1)), live]

    def supports_timestamps(self) -> bool:
        return True

    def attach(self) -> None:
        self._daemon = self._read_daemon()
        if self._daemon is None or not self._daemon.is_alive():
            raise RuntimeError(f"procward up returned but no live daemon in {self.home}")

    def upgrade_label(self) -> str:
        return "`procward upgrade`"

    def upgrade(self) -> None:
        """``procward upgrade``: the daemon execs the installed procward in place (same
        pid) and the command returns once the new program answers."""
        cmd = self.command("upgrade")
        proc = subprocess.run(
            cmd.argv,
            env=cmd.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60.0,
            check=False,
        )
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0 or not out.startswith(UPGRADED):
            err = proc.stderr.decode(errors="replace").strip()
            raise CommandFailed(f"{cmd.shell} exited with {proc.returncode}: {out} {err}")
        self.attach()

    def instances(self) -> list[InstanceView] | None:
        if self._client is None:
            try:
                self._client = Client.open(self.paths.socket, timeout=30.0)
            except (FileNotFoundError, ConnectionRefusedError):
                return None
        found = []
        for app in self._client.call("status")["apps"]:
            for inst in app["instances"]:
                pid = inst.get("pid")
                found.append(
                    InstanceView(
                        app["name"],
                        inst["index"],
                        inst["state"],
                        pid,
                        inst["restarts"],
                        inst.get("started_at"),
                    )
                )
                if pid is not None and pid not in self._apps_seen:
                    self._remember_app(pid, inst.get("starttime"))
        return found

    def disconnect(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def start_all(self) -> None:
        if self._client is None:
            self._client = Client.open(self.paths.socket, timeout=60.0)
        self._client.call("startAll")

    def _remember_app(self, pid: int, starttime: object) -> None:
        p = procs.proc(pid)
        if p is not None and (not isinstance(starttime, int) or p.starttime == starttime):
            self._apps_seen[pid] = p

    def cleanup(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.disconnect()
            self._down_quietly()
        finally:
            try:
                self._kill_leftovers()
                self._kill_app_groups()
            finally:
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
            what = procs.command_line(p.pid)
            exited = procs.kill_and_wait(p)
            self._warn(
                f"process {p.pid} ({what}) was still running after `procward down`; "
                + ("SIGKILLed it" if exited else "it survived SIGKILL")
            )

    def _kill_app_groups(self) -> None:
        """SIGKILL the group of every app process we saw that is somehow still alive.

        Only a process that is still the very one status showed us (pid and
        start time) and that leads its own group, so the group is this run's.
        """
        for p in self._apps_seen.values():
            try:
                pidfd = os.pidfd_open(p.pid)  # pins the pid while we look and signal
            except ProcessLookupError:
                continue
            try:
                if not p.is_alive():
                    continue
                what = procs.command_line(p.pid)
                if procs.process_group(p.pid) == p.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                exited = procs.kill_and_wait(p)
            finally:
                os.close(pidfd)
            self._warn(
                f"app process {p.pid} ({what}) was still running after "
                "`procward down`; " + ("SIGKILLed its group" if exited else "it survived SIGKILL")
            )

    def _daemon_log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self.paths.daemon_log).read_text(errors="replace")
        except OSError:
            return "(no daemon log)"
        return "daemon log:\n" + "\n".join(text.splitlines()[-lines:])


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; non-ASCII stays as is)."""
    return json.dumps(text, ensure_ascii=False)


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _escape_cmd(arg: str) -> str:
    return _escape_braces(arg).replace("$", "$$")


SystemFactory = Callable[[Mapping[str, str]], System]
AppSystemFactory = Callable[[Mapping[str, str]], AppSystem]


def _supervisord(env: Mapping[str, str]) -> AppSystem:
    from bench.supervisord import SupervisordSystem  # imports this module: import late

    return SupervisordSystem(env)


def _circus(env: Mapping[str, str]) -> AppSystem:
    from bench.circus_peer import CircusSystem  # imports this module: import late

    return CircusSystem(env)


def _pm2(env: Mapping[str, str]) -> AppSystem:
    from bench.pm2_peer import Pm2System  # imports this module: import late

    return Pm2System(env)


# The systems a run measures, in report order (a peer is installed on first use).
SYSTEMS: dict[str, SystemFactory] = {
    "procward": ProcwardSystem,
    "supervisord": _supervisord,
    "circus": _circus,
    "pm2": _pm2,
}
# The systems the supervision scenarios measure; each scenario makes fresh ones.
APP_SYSTEMS: dict[str, AppSystemFactory] = {
    "procward": ProcwardSystem,
    "supervisord": _supervisord,
    "circus": _circus,
    "pm2": _pm2,
}
