"""supervisord as a peer: the same ``System``/``AppSystem`` interface as procward.

Installed on first use into ``bench/.peers/supervisor`` (``bench.peers``). Each
instance runs in a private temporary directory (``/tmp/pwb-sv-*``) with a
generated ``supervisord.conf``: the unix socket, pidfile, daemon log and
children's logs all live there, never in the user's files. ``supervisord -c``
daemonizes (``nodaemon=false``) as a user would run it, so the bench finds
the daemon through its pidfile, and marks it with ``PWB_SUPERVISOR_HOME=<dir>``
in its environment (which every app inherits): clean-up asks for a
``shutdown`` first, then SIGKILLs by pid whatever still carries the mark.

The bench talks to it the way ``supervisorctl`` does, XML-RPC over the unix
socket, on one persistent connection (``xmlrpc.client`` with a unix-socket
transport; the server answers HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from bench import procs
from bench.measure import Command, CommandFailed, run
from bench.peers import SUPERVISOR
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PWB_SUPERVISOR_HOME"
READY_TIMEOUT = 30.0
METHOD_NOTE = (
    f"supervisord: `{SUPERVISOR.requirement}` in its own venv (`bench/.peers/supervisor`, "
    "installed on first use), one private `/tmp/pwb-sv-*` directory per measurement with a "
    "generated `supervisord.conf` (unix socket, pidfile and all logs in there; "
    "`loglevel=warn`). `supervisord -c` daemonizes as a user would run it (*`up` returned*: "
    "the parent's exit). Apps: `startsecs=0` (so RUNNING means spawned), "
    "`autorestart=unexpected` (crash scenario: `true`, `startretries=1000000`), stdout and "
    "stderr to its default AUTO log files (log scenario: `stdout_logfile`, "
    "`stdout_logfile_maxbytes`, `stdout_logfile_backups`, `autorestart=false`). The bench "
    "reads status over XML-RPC on one persistent unix-socket connection "
    "(`getAllProcessInfo`; *ping* is `supervisorctl pid`, RPC round trips `getPID`); "
    "supervisord reports no restart count, so the bench counts the pids it saw per app."
)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self.unix_path = path
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0] and self._connection[1]:
            return self._connection[1]
        conn = _UnixConnection(self.unix_path, self.timeout)
        self._connection = host, conn
        return conn


def _conf_value(text: str) -> str:
    """A value for supervisord.conf: ``%`` is its expansion character."""
    if "\n" in text:
        raise ValueError(f"no newline allowed in a supervisord.conf value: {text!r}")
    return text.replace("%", "%%")


def _command(argv: Sequence[str]) -> str:
    """A ``command=`` line: supervisord splits it with shlex, so quote every argument."""
    quoted = []
    for arg in argv:
        if arg and all(c.isalnum() or c in "-_./=:,+@" for c in arg):
            quoted.append(arg)
        else:
            quoted.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return _conf_value(" ".join(quoted))


def _environment(env: Mapping[str, str]) -> str:
    pairs = []
    for key, value in env.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        pairs.append(f'{key}="{escaped}"')
    return _conf_value(",".join(pairs))


class SupervisordSystem:
    """supervisord 4 (``bench.peers.SUPERVISOR``), run by its own ``supervisord -c``."""

    name = "supervisord"
    under_test = False
    loop_name = "own poll() loop, 1 s tick"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = SUPERVISOR.ensure()
        self.home = tempfile.mkdtemp(prefix="pwb-sv-", dir="/tmp")
        self.env = {**env, MARK_ENV: self.home}
        self.conf = os.path.join(self.home, "supervisord.conf")
        self.socket = os.path.join(self.home, "supervisor.sock")
        self.pidfile = os.path.join(self.home, "supervisord.pid")
        self.warnings: list[str] = []
        self._daemon: procs.Proc | None = None
        self._closed = False
        self._proxy: xmlrpc.client.ServerProxy | None = None
        self._apps_seen: dict[int, procs.Proc] = {}
        self._pids_by_app: dict[str, set[int]] = {}
        self.write_config([])

    def __enter__(self) -> SupervisordSystem:
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
            f"supervisorctl {' '.join(args)}",
            (str(self.bin / "supervisorctl"), "-c", self.conf, *args),
            self.env,
        )

    def cli_cases(self) -> list[CliCase]:
        # supervisorctl has no ping: `pid` is the cheapest call that asks the daemon.
        return [CliCase("ping", self.ctl("pid")), CliCase("status", self.ctl("status"))]

    def start(self) -> float:
        started = time.perf_counter()
        run(self.up_command(self.conf))
        self.attach()
        self._wait_serving()
        return time.perf_counter() - started

    def stop(self) -> float:
        started = time.perf_counter()
        daemon = self._daemon or self._read_daemon()
        run(self.ctl("shutdown"), timeout=READY_TIMEOUT)
        if daemon is not None and not _wait_gone(daemon, READY_TIMEOUT):
            raise RuntimeError(f"supervisord {daemon.pid} still runs after shutdown")
        return time.perf_counter() - started

    def daemon_pid(self) -> int:
        if self._daemon is None:
            raise RuntimeError("supervisord is not started")
        return self._daemon.pid

    def rpc_round_trips(self, calls: int, warmup: int) -> list[int]:
        clock = time.perf_counter_ns
        samples = [0] * calls
        proxy = self._new_proxy(10.0)
        try:
            get_pid = proxy.supervisor.getPID
            for _ in range(warmup):
                get_pid()
            for i in range(calls):
                t0 = clock()
                get_pid()
                samples[i] = clock() - t0
        finally:
            proxy("close")()
        return samples

    # -- AppSystem ---------------------------------------------------------------------

    def write_config(self, apps: Sequence[AppDef]) -> str:
        h = _conf_value(self.home)
        lines = [
            "[unix_http_server]",
            f"file={h}/supervisor.sock",
            "chmod=0700",
            "",
            "[supervisord]",
            f"logfile={h}/supervisord.log",
            f"pidfile={h}/supervisord.pid",
            f"childlogdir={h}/childlogs",
            f"directory={h}",
            "nodaemon=false",
            "loglevel=warn",
            "minfds=8192",  # 500 apps: two pipes and two log files each
            "minprocs=1024",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{h}/supervisor.sock",
            "",
        ]
        for directory in ("childlogs", "logs"):
            os.makedirs(os.path.join(self.home, directory), exist_ok=True)
        for app in apps:
            lines += [
                f"[program:{app.name}]",
                f"command={_command(app.argv)}",
                "autostart=true",
                "startsecs=0",
                "stopsignal=TERM",
                "stopwaitsecs=10",
            ]
            if app.env:
                lines.append(f"environment={_environment(app.env)}")
            if app.restart_at_once:
                lines += ["autorestart=true", "startretries=1000000"]
            else:
                lines.append("autorestart=false" if app.run_once else "autorestart=unexpected")
            if app.log is not None:
                if app.log.timestamps:
                    raise ValueError("supervisord cannot timestamp an app's lines")
                lines += [
                    f"stdout_logfile={_conf_value(self._log_path(app.name))}",
                    f"stdout_logfile_maxbytes={app.log.max_size}",
                    f"stdout_logfile_backups={app.log.backups}",
                ]
            lines.append("")
        Path(self.conf).write_text("\n".join(lines))
        return self.conf

    def up_command(self, config: str) -> Command:
        return Command(
            "supervisord -c supervisord.conf",
            (str(self.bin / "supervisord"), "-c", config),
            self.env,
        )

    def attach(self) -> None:
        """Wait for the daemonized supervisord's pidfile (written after it forked)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            daemon = self._read_daemon()
            if daemon is not None and daemon.is_alive():
                self._daemon = daemon
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord wrote no pidfile of a live process in {self.home}")
            time.sleep(0.005)

    def instances(self) -> list[InstanceView] | None:
        if self._proxy is None:
            self._proxy = self._new_proxy(30.0)
        try:
            infos = cast(list[dict[str, Any]], self._proxy.supervisor.getAllProcessInfo())
        except (FileNotFoundError, ConnectionRefusedError):
            self.disconnect()
            return None
        found = []
        for info in infos:
            pid = int(info["pid"]) or None
            name = str(info["name"])
            if pid is not None:
                seen = self._pids_by_app.setdefault(name, set())
                seen.add(pid)
                if pid not in self._apps_seen:
                    p = procs.proc(pid)
                    if p is not None:
                        self._apps_seen[pid] = p
            restarts = max(0, len(self._pids_by_app.get(name, ())) - 1)
            found.append(InstanceView(name, 0, _state(str(info["statename"])), pid, restarts))
        return found

    def disconnect(self) -> None:
        if self._proxy is not None:
            proxy, self._proxy = self._proxy, None
            proxy("close")()

    def start_all(self) -> None:
        if self._proxy is None:
            self._proxy = self._new_proxy(60.0)
        self._proxy.supervisor.startAllProcesses(True)

    def status_command(self) -> Command:
        return self.ctl("status")

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
            self._shutdown_quietly()
        finally:
            try:
                self._kill_leftovers()
            finally:
                shutil.rmtree(self.home, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------

    def _log_path(self, app: str) -> str:
        return os.path.join(self.home, "logs", f"{app}.out")

    def _new_proxy(self, timeout: float) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(self.socket, timeout)
        )

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                proxy = self._new_proxy(5.0)
                try:
                    state = cast(dict[str, Any], proxy.supervisor.getState())
                    if state["statename"] == "RUNNING":
                        return
                finally:
                    proxy("close")()
            except (FileNotFoundError, ConnectionRefusedError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord in {self.home} does not answer")
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

    def _shutdown_quietly(self) -> None:
        daemon = self._daemon or self._read_daemon()
        if daemon is None or not daemon.is_alive():
            return
        try:
            run(self.ctl("shutdown"), timeout=READY_TIMEOUT)
        except (CommandFailed, OSError) as exc:
            self._warn(f"`supervisorctl shutdown` failed during clean-up: {exc}")
            return
        except Exception as exc:  # a timeout: fall through to the kill
            self._warn(f"`supervisorctl shutdown` failed during clean-up: {exc}")
            return
        if not _wait_gone(daemon, READY_TIMEOUT):
            self._warn(f"supervisord {daemon.pid} still ran {READY_TIMEOUT:g} s after shutdown")

    def _kill_leftovers(self) -> None:
        """SIGKILL, by pid, every process that carries our mark, and the apps' groups."""
        suspects = {p.pid: p for p in procs.with_environment(MARK_ENV, self.home)}
        for p in self._apps_seen.values():
            if p.is_alive():
                suspects[p.pid] = p
        for p in suspects.values():
            what = procs.command_line(p.pid)
            if p.pid in self._apps_seen:
                _kill_group(p)  # an app leads its own group (supervisord calls setpgrp)
            exited = procs.kill_and_wait(p)
            self._warn(
                f"process {p.pid} ({what}) was still running after supervisord's shutdown; "
                + ("SIGKILLed it" if exited else "it survived SIGKILL")
            )

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


def _state(statename: str) -> str:
    return statename.lower()


def _wait_gone(p: procs.Proc, timeout: float) -> bool:
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return True
    try:
        # Not our child (it daemonized): it is reaped by init, so watch its identity too.
        deadline = time.monotonic() + timeout
        while p.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            procs.wait_exit(fd, min(left, 0.05))
        return True
    finally:
        os.close(fd)
