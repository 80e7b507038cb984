"""Circus as a peer: the same ``System``/``AppSystem`` interface as procward.

Installed on first use into ``bench/.peers/circus`` (``bench.peers``). Each
instance runs in a private temporary directory (``/tmp/pwb-ci-*``) with a
generated ``circus.ini``: its control and pub/sub endpoints are ``ipc://``
sockets in there (no TCP at all; statistics off), as are its pidfile, its log
and the apps' logs. ``circusd --daemon`` detaches as a user would run it, so
the bench finds the daemon through its pidfile, and marks it with
``PWB_CIRCUS_HOME=<dir>`` in its environment (every app inherits it:
``copy_env = true``): clean-up asks ``circusctl quit`` first, then SIGKILLs by
pid whatever still carries the mark, and the group of every app it saw.

The bench has no ZeroMQ of its own, so its one persistent connection is a
helper (``bench/circus_client.py``) run by Circus's interpreter, holding one
``CircusClient``; status is one ``list`` call per watcher (its pids).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import procs
from bench.measure import Command, CommandFailed, run
from bench.peers import CIRCUS
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PWB_CIRCUS_HOME"
READY_TIMEOUT = 30.0
CRASH_CHECK_DELAY = 0.01  # s; Circus's default is 5
HELPER = Path(__file__).resolve().parent / "circus_client.py"
METHOD_NOTE = (
    f"Circus: `{CIRCUS.requirement}` in its own venv (`bench/.peers/circus`, installed on "
    "first use), one private `/tmp/pwb-ci-*` directory per measurement with a generated "
    "`circus.ini`: control and pub/sub endpoints on `ipc://` sockets in there, "
    "`multicast_endpoint` empty (no UDP discovery socket), no circusd-stats, pidfile and "
    "daemon log in there, `loglevel = WARNING`. Circus reaps and respawns dead children "
    "only on a periodic check (no SIGCHLD handler), every `check_delay` seconds, 5 s by "
    "default: the crash scenario sets `check_delay = 0.01` (its minimum restart delay; "
    "with the default, a crash → restart takes ≈ 5 s), the others keep the default. "
    "`circusd --daemon` detaches "
    "as a user would run it (*`up` returned*: the parent's exit). Apps: one watcher each, "
    "`numprocesses = 1`, `warmup_delay = 0`, `copy_env = true`, `respawn = true` (crash "
    "scenario: also `max_retry = -1`; log scenario: `respawn = false`), output not kept "
    "(log scenario: `stdout_stream.class = FileStream` with `max_bytes` and "
    "`backup_count`). *ping* is `circusctl numwatchers`, `stop all` is `circusctl stop "
    "--waiting` (without `--waiting` it returns before anything stopped). The bench reads "
    "status with one `list` call per watcher (its `stats` asks psutil about every process: "
    "7 s with 500 apps) and times RPC round trips (`numwatchers`), over one persistent "
    "ZeroMQ connection held by a helper under Circus's interpreter "
    "(`bench/circus_client.py`); "
    "Circus reports no restart count, so the bench counts the pids it saw per app."
)


def _value(text: str) -> str:
    """A value for circus.ini: one line, and no ``$(circus.…)``/``((…))`` substitution."""
    if "\n" in text or "$(circus." in text.lower() or "((" in text:
        raise ValueError(f"cannot express {text!r} in circus.ini")
    if text != text.strip():
        raise ValueError(f"circus.ini strips values: {text!r}")
    return text


class CircusSystem:
    """Circus (``bench.peers.CIRCUS``), run by its own ``circusd --daemon``."""

    name = "circus"
    under_test = False
    loop_name = "tornado IOLoop (ZeroMQ), 1 s check_delay"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = CIRCUS.ensure()
        self.home = tempfile.mkdtemp(prefix="pwb-ci-", dir="/tmp")
        self.env = {**env, MARK_ENV: self.home}
        self.conf = os.path.join(self.home, "circus.ini")
        self.endpoint = f"ipc://{self.home}/control.sock"
        self.pidfile = os.path.join(self.home, "circusd.pid")
        self.warnings: list[str] = []
        self._daemon: procs.Proc | None = None
        self._closed = False
        self._helper: subprocess.Popen[str] | None = None
        self._apps_seen: dict[int, procs.Proc] = {}
        self._pids_by_app: dict[str, set[int]] = {}
        self._apps: list[str] = []
        self.write_config([])

    def __enter__(self) -> CircusSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- System ----------------------------------------------------------------------

    def ctl(self, *args: str) -> Command:
        return Command(
            f"circusctl {' '.join(args)}",
            (str(self.bin / "circusctl"), "--endpoint", self.endpoint, "--timeout", "30", *args),
            self.env,
        )

    def cli_cases(self) -> list[CliCase]:
        # circusctl has no ping: `numwatchers` is the cheapest call that asks the daemon.
        return [CliCase("ping", self.ctl("numwatchers")), CliCase("status", self.ctl("status"))]

    def start(self) -> float:
        started = time.perf_counter()
        run(self.up_command(self.conf))
        self.attach()
        self._wait_serving()
        return time.perf_counter() - started

    def stop(self) -> float:
        started = time.perf_counter()
        self.disconnect()
        daemon = self._daemon or self._read_daemon()
        run(self.ctl("quit", "--waiting"), timeout=READY_TIMEOUT)
        if daemon is not None and not _wait_gone(daemon, READY_TIMEOUT):
            raise RuntimeError(f"circusd {daemon.pid} still runs after quit")
        return time.perf_counter() - started

    def daemon_pid(self) -> int:
        if self._daemon is None:
            raise RuntimeError("circusd is not started")
        return self._daemon.pid

    def rpc_round_trips(self, calls: int, warmup: int) -> list[int]:
        answer = self._ask({"rtt": [calls, warmup]}, timeout=10.0)
        return [int(s) for s in answer["samples"]]

    # -- AppSystem ---------------------------------------------------------------------

    def write_config(self, apps: Sequence[AppDef]) -> str:
        h = _value(self.home)
        lines = [
            "[circus]",
            f"endpoint = ipc://{h}/control.sock",
            f"pubsub_endpoint = ipc://{h}/pubsub.sock",
            "multicast_endpoint =",  # empty: no UDP cluster discovery on 0.0.0.0:12027
            f"pidfile = {h}/circusd.pid",
            f"logoutput = {h}/circusd.log",
            "loglevel = WARNING",
        ]
        if any(app.restart_at_once for app in apps):
            # Circus notices a dead child only on this periodic check (5 s by default):
            # the crash scenario sets it to its smallest useful value.
            lines.append(f"check_delay = {CRASH_CHECK_DELAY:g}")
        lines.append("")
        os.makedirs(os.path.join(self.home, "logs"), exist_ok=True)
        for app in apps:
            lines += [
                f"[watcher:{_value(app.name)}]",
                f"cmd = {_value(shlex.join(app.argv))}",
                "numprocesses = 1",
                "warmup_delay = 0",
                "copy_env = true",
                f"working_dir = {h}",
                "stop_signal = TERM",
                "graceful_timeout = 10",
                f"respawn = {'false' if app.run_once else 'true'}",
            ]
            if app.restart_at_once:
                lines.append("max_retry = -1")
            if app.log is not None:
                if app.log.timestamps:
                    raise ValueError("the bench does not use Circus's own timestamp format")
                lines += [
                    "stdout_stream.class = FileStream",
                    f"stdout_stream.filename = {_value(self._log_path(app.name))}",
                    f"stdout_stream.max_bytes = {app.log.max_size}",
                    f"stdout_stream.backup_count = {app.log.backups}",
                ]
            if app.env:
                lines += ["", f"[env:{app.name}]"]
                for key, value in app.env.items():
                    if not key.isidentifier() or "$" in value:
                        raise ValueError(f"cannot express {key}={value!r} in circus.ini")
                    lines.append(f"{key} = {_value(value)}")
            lines.append("")
        self._apps = [app.name for app in apps]
        Path(self.conf).write_text("\n".join(lines))
        return self.conf

    def up_command(self, config: str) -> Command:
        return Command(
            "circusd --daemon circus.ini",
            (str(self.bin / "circusd"), "--daemon", config),
            self.env,
        )

    def attach(self) -> None:
        """Wait for the detached circusd's pidfile."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            daemon = self._read_daemon()
            if daemon is not None and daemon.is_alive():
                self._daemon = daemon
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"circusd wrote no pidfile of a live process in {self.home}")
            time.sleep(0.005)

    def instances(self) -> list[InstanceView] | None:
        names = self._apps
        if not names:
            listed = self._ask({"command": "list", "properties": {}}, timeout=30.0)
            if listed.get("status") != "ok":
                return None
            names = [str(n) for n in listed.get("watchers", [])]
        answer = self._ask({"pids": names}, timeout=30.0)
        if answer.get("status") != "ok":
            return None
        found = []
        for name in names:
            pids = [int(p) for p in answer["pids"].get(name, [])]
            pid = min(pids) if pids else None
            if pid is not None:
                self._pids_by_app.setdefault(name, set()).add(pid)
                if pid not in self._apps_seen:
                    p = procs.proc(pid)
                    if p is not None:
                        self._apps_seen[pid] = p
            restarts = max(0, len(self._pids_by_app.get(name, ())) - 1)
            state = "running" if pid is not None else "stopped"
            found.append(InstanceView(name, 0, state, pid, restarts))
        return found

    def disconnect(self) -> None:
        helper, self._helper = self._helper, None
        if helper is None:
            return
        with contextlib.suppress(OSError):
            if helper.stdin is not None:
                helper.stdin.close()
        try:
            helper.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            helper.kill()  # our own child, by its pid
            helper.wait()
        if helper.stdout is not None:
            helper.stdout.close()

    def start_all(self) -> None:
        answer = self._ask({"command": "start", "properties": {"waiting": True}}, timeout=60.0)
        if answer.get("status") != "ok":
            raise RuntimeError(f"circus: start failed: {answer}")

    def status_command(self) -> Command:
        return self.ctl("status")

    def stop_all_command(self) -> Command:
        return self.ctl("stop", "--waiting")

    def log_files(self, app: str, backups: int) -> list[str]:
        live = self._log_path(app)
        return [*(f"{live}.{n}" for n in range(backups, 0, -1)), live]

    def supports_timestamps(self) -> bool:
        return False

    def cleanup(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.disconnect()
            self._quit_quietly()
        finally:
            try:
                self._kill_leftovers()
            finally:
                shutil.rmtree(self.home, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------

    def _log_path(self, app: str) -> str:
        return os.path.join(self.home, "logs", f"{app}.out")

    def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request over the helper's persistent connection (started on first use)."""
        if self._helper is None:
            self._helper = subprocess.Popen(
                [str(self.bin / "python"), str(HELPER), self.endpoint, str(timeout)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
                text=True,
            )
        helper = self._helper
        assert helper.stdin is not None and helper.stdout is not None
        helper.stdin.write(json.dumps(request) + "\n")
        helper.stdin.flush()
        line = helper.stdout.readline()
        if not line:
            self.disconnect()
            raise RuntimeError("circus: the connection helper exited")
        return dict(json.loads(line))

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self._ask({"command": "numwatchers", "properties": {}}, 5.0).get("status") == "ok":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"circusd in {self.home} does not answer")
            time.sleep(0.005)

    def _read_daemon(self) -> procs.Proc | None:
        try:
            pid = int(Path(self.pidfile).read_text().strip())
        except (OSError, ValueError):
            return None
        p = procs.proc(pid)
        # Only ours if it carries our mark: a stale pidfile could name a recycled pid.
        if p is None or not procs.has_environment(pid, MARK_ENV, self.home):
            return None
        return p

    def _quit_quietly(self) -> None:
        daemon = self._daemon or self._read_daemon()
        if daemon is None or not daemon.is_alive():
            return
        try:
            run(self.ctl("quit", "--waiting"), timeout=READY_TIMEOUT)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            self._warn(f"`circusctl quit` failed during clean-up: {exc}")
            return
        if not _wait_gone(daemon, READY_TIMEOUT):
            self._warn(f"circusd {daemon.pid} still ran {READY_TIMEOUT:g} s after quit")

    def _kill_leftovers(self) -> None:
        """SIGKILL, by pid, the daemon first (so it spawns nothing more), then every process
        that carries our mark and the groups of the apps seen, rescanning until none is left."""
        daemon = self._daemon or self._read_daemon()
        for _ in range(10):
            suspects = {p.pid: p for p in procs.with_environment(MARK_ENV, self.home)}
            for p in (daemon, *self._apps_seen.values()):
                if p is not None and p.is_alive():
                    suspects[p.pid] = p
            if not suspects:
                return
            ordered = sorted(suspects.values(), key=lambda p: daemon is None or p.pid != daemon.pid)
            for p in ordered:
                what = procs.command_line(p.pid)
                if p.pid in self._apps_seen:
                    _kill_group(p)  # an app leads its own session
                exited = procs.kill_and_wait(p)
                self._warn(
                    f"process {p.pid} ({what}) was still running after circusd quit; "
                    + ("SIGKILLed it" if exited else "it survived SIGKILL")
                )
        self._warn("processes with our mark kept appearing; gave up after 10 sweeps")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"bench: {self.name}: {message}", file=sys.stderr)


def _kill_group(p: procs.Proc) -> None:
    """SIGKILL the group ``p`` leads, if it is still that very process and leads one."""
    try:
        fd = os.pidfd_open(p.pid)  # pins the pid while we look and signal
    except ProcessLookupError:
        return
    try:
        if p.is_alive() and procs.process_group(p.pid) == p.pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
    finally:
        os.close(fd)


def _wait_gone(p: procs.Proc, timeout: float) -> bool:
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return True
    try:
        # Not our child (it detached): watch its identity, not just its pid.
        deadline = time.monotonic() + timeout
        while p.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            procs.wait_exit(fd, min(left, 0.05))
        return True
    finally:
        os.close(fd)
