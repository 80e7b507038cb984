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

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.measure import Command
from bench.peerbase import READY_TIMEOUT, PeerSystem
from bench.peers import CIRCUS
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PWB_CIRCUS_HOME"
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


class CircusSystem(PeerSystem):
    """Circus (``bench.peers.CIRCUS``), run by its own ``circusd --daemon``."""

    name = "circus"
    daemon_name = "circusd"
    loop_name = "tornado IOLoop (ZeroMQ), 1 s check_delay"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = CIRCUS.ensure()
        super().__init__(
            env,
            mark_env=MARK_ENV,
            home_prefix="pwb-ci-",
            config="circus.ini",
            pidfile="circusd.pid",
        )
        self.endpoint = f"ipc://{self.home}/control.sock"
        self._apps: list[str] = []
        self.write_config([])

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
            restarts = self._count_restarts(name, pid)
            state = "running" if pid is not None else "stopped"
            found.append(InstanceView(name, 0, state, pid, restarts))
        return found

    def start_all(self) -> None:
        answer = self._ask({"command": "start", "properties": {"waiting": True}}, timeout=60.0)
        if answer.get("status") != "ok":
            raise RuntimeError(f"circus: start failed: {answer}")

    def status_command(self) -> Command:
        return self.ctl("status")

    def stop_all_command(self) -> Command:
        return self.ctl("stop", "--waiting")

    # -- internals ----------------------------------------------------------------------

    def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request over the helper's persistent connection (started on first use)."""
        argv = [str(self.bin / "python"), str(HELPER), self.endpoint, str(timeout)]
        return self._ask_helper(argv, request)

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self._ask({"command": "numwatchers", "properties": {}}, 5.0).get("status") == "ok":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"circusd in {self.home} does not answer")
            time.sleep(0.005)

    def _quit_command(self) -> Command:
        return self.ctl("quit", "--waiting")
