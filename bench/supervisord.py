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

import http.client
import os
import socket
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from bench.measure import Command
from bench.peerbase import READY_TIMEOUT, PeerSystem
from bench.peers import SUPERVISOR
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PWB_SUPERVISOR_HOME"
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


class SupervisordSystem(PeerSystem):
    """supervisord 4 (``bench.peers.SUPERVISOR``), run by its own ``supervisord -c``."""

    name = "supervisord"
    daemon_name = "supervisord"
    loop_name = "own poll() loop, 1 s tick"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = SUPERVISOR.ensure()
        super().__init__(
            env,
            mark_env=MARK_ENV,
            home_prefix="pwb-sv-",
            config="supervisord.conf",
            pidfile="supervisord.pid",
        )
        self.socket = os.path.join(self.home, "supervisor.sock")
        self._proxy: xmlrpc.client.ServerProxy | None = None
        self.write_config([])

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
            restarts = self._count_restarts(name, pid)
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

    # -- internals ----------------------------------------------------------------------

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

    def _quit_command(self) -> Command:
        return self.ctl("shutdown")


def _state(statename: str) -> str:
    return statename.lower()
