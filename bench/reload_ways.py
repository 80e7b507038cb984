"""Each system's way to reload a 2-instance HTTP app, for ``bench.reload_load``.

A ``ReloadWay`` wraps one fresh system (``bench.systems``): ``serve`` writes
the app into the system's home in its own config format and starts daemon
and app; ``reload`` runs the system's reload command once; ``workers`` names
the processes serving now, read from /proc (the children of the daemon, or
of gunicorn's master), the same way for every system, so the scenario can
see a generation replaced whatever the system's status shows. Clean-up is
the system's own (by pid, in its own home).

The ways, and why each is the system's zero-downtime one:

- procward: a held socket (``sockets``, passed as fd 3) and a readiness
  probe (``ready = { notify = true }``), with ``reload = "surge"`` or
  ``"rolling"``: README's "Reloading without downtime";
- PM2: ``exec_mode: "cluster"``, 2 instances, ``pm2 reload``: node's cluster
  master holds the port, workers are replaced one at a time;
- Circus: a ``[socket:web]`` with ``use_sockets = True``, the app on
  ``$(circus.sockets.web)``, ``circusctl reload --waiting``: new processes
  first, then the oldest stopped;
- supervisord holds no socket: ``numprocs = 2`` processes sharing the port
  with ``SO_REUSEPORT`` and ``supervisorctl restart web:*`` (stop, then
  start: the row that shows what a plain restart costs); and gunicorn (2
  workers, one master holding the port) under supervisord, reloaded by
  ``supervisorctl signal HUP web``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from bench import procs
from bench.measure import Command, run
from bench.peers import PythonPeer
from bench.systems import AppDef, CleansUp, ProcwardSystem

APP = Path(__file__).resolve().parent / "reload_app.py"
APP_JS = APP.with_suffix(".js")
GUNICORN = PythonPeer("gunicorn", "gunicorn==23.0.0")
WORKERS = 2
COMMAND_TIMEOUT = 60.0  # s: the longest a start or reload command may take


class PeerDaemon(Protocol):
    """What a way uses of a peer system (``bench.peerbase.PeerSystem``)."""

    home: str
    conf: str
    warnings: list[str]

    def write_config(self, apps: Sequence[AppDef]) -> str: ...

    def up_command(self, config: str) -> Command: ...

    def attach(self) -> None: ...

    def daemon_pid(self) -> int: ...

    def ctl(self, *args: str) -> Command: ...

    def cleanup(self) -> None: ...


class ReloadWay(CleansUp):
    """One system serving the app on a port, and its reload command."""

    label: str  # the table's row: "procward, surge"
    system: str  # the system it counts as in the summary: "procward"
    how: str  # the reload command, for the table (Markdown)

    def serve(self, port: int) -> None:
        """Start daemon and app on 127.0.0.1:``port``; return once ``WORKERS`` processes run."""
        raise NotImplementedError

    def reload(self) -> None:
        """Run the reload command once, to its end."""
        raise NotImplementedError

    @property
    def warnings(self) -> list[str]:
        """What the system warned about (a forced clean-up)."""
        raise NotImplementedError

    def workers(self) -> frozenset[procs.Proc]:
        """The app's processes now: the children of the daemon."""
        return frozenset(procs.children(self._daemon_pid()))

    def _daemon_pid(self) -> int:
        raise NotImplementedError

    def _wait_workers(self) -> None:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while len(self.workers()) < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: {WORKERS} workers not running in time")
            time.sleep(0.02)


class ProcwardWay(ReloadWay):
    system = "procward"

    def __init__(self, env: Mapping[str, str], mode: str) -> None:
        self.label = f"procward, {mode}"
        self.how = f'`procward reload web` (`reload = "{mode}"`)'
        self.mode = mode
        self.procward = ProcwardSystem(env)

    def serve(self, port: int) -> None:
        config = os.path.join(self.procward.home, "procward.toml")
        argv = ", ".join(json.dumps(arg) for arg in (sys.executable, str(APP), "--fd", "3"))
        Path(config).write_text(
            "[apps.web]\n"
            f"cmd = [{argv}]\n"
            f"instances = {WORKERS}\n"
            f'sockets = {{ http = "127.0.0.1:{port}" }}\n'
            f'reload = "{self.mode}"\n'
            "ready = { notify = true }\n"
        )
        run(self.procward.up_command(config), timeout=COMMAND_TIMEOUT)
        self.procward.attach()
        self._wait_workers()
        self.procward.instances()  # clean-up kills what status showed, should `down` fail

    def reload(self) -> None:
        run(self.procward.command("reload", "web"), timeout=COMMAND_TIMEOUT)
        self.procward.instances()  # the new generation, for clean-up as above

    @property
    def warnings(self) -> list[str]:
        return self.procward.warnings

    def _daemon_pid(self) -> int:
        return self.procward.daemon_pid()

    def cleanup(self) -> None:
        self.procward.cleanup()


class PeerWay(ReloadWay):
    """A peer: the app's config appended to the peer's own (``write_config([])``)."""

    def __init__(self, peer: PeerDaemon, reload_args: tuple[str, ...]) -> None:
        self.peer = peer
        self.reload_args = reload_args
        self.how = f"`{peer.ctl(*reload_args).label}`"

    def app_config(self, port: int) -> str:
        """The app's sections, in the peer's config format."""
        raise NotImplementedError

    def write_app(self, port: int) -> None:
        base = Path(self.peer.write_config([])).read_text()
        Path(self.peer.conf).write_text(base + "\n" + self.app_config(port))

    def serve(self, port: int) -> None:
        self.write_app(port)
        run(self.peer.up_command(self.peer.conf), timeout=COMMAND_TIMEOUT)
        self.peer.attach()
        self._wait_workers()

    def reload(self) -> None:
        run(self.peer.ctl(*self.reload_args), timeout=COMMAND_TIMEOUT)

    @property
    def warnings(self) -> list[str]:
        return self.peer.warnings

    def _daemon_pid(self) -> int:
        return self.peer.daemon_pid()

    def cleanup(self) -> None:
        self.peer.cleanup()


class Pm2Way(PeerWay):
    label = system = "pm2"

    def __init__(self, env: Mapping[str, str]) -> None:
        from bench.pm2_peer import Pm2System

        super().__init__(Pm2System(env), ("reload", "web"))

    def write_app(self, port: int) -> None:
        # The ecosystem file is JSON: replaced rather than appended to.
        app: dict[str, object] = {
            "name": "web",
            "script": str(APP_JS),
            "args": [str(port)],
            "exec_mode": "cluster",
            "instances": WORKERS,
            "cwd": self.peer.home,
            "merge_logs": True,
            "out_file": os.path.join(self.peer.home, "web.out"),
            "error_file": os.path.join(self.peer.home, "web.err"),
        }
        Path(self.peer.conf).write_text(json.dumps({"apps": [app]}, indent=1))


class CircusWay(PeerWay):
    label = system = "circus"

    def __init__(self, env: Mapping[str, str]) -> None:
        from bench.circus_peer import CircusSystem

        super().__init__(CircusSystem(env), ("reload", "web", "--waiting"))

    def app_config(self, port: int) -> str:
        return (
            f"[socket:web]\nhost = 127.0.0.1\nport = {port}\n\n"
            "[watcher:web]\n"
            f"cmd = {sys.executable} {APP} --fd $(circus.sockets.web)\n"
            "use_sockets = True\n"
            f"numprocesses = {WORKERS}\n"
            "warmup_delay = 0\ncopy_env = true\n"
            f"working_dir = {self.peer.home}\n"
            "stop_signal = TERM\ngraceful_timeout = 10\n"
        )


class SupervisordRestartWay(PeerWay):
    label = "supervisord, restart"
    system = "supervisord"

    def __init__(self, env: Mapping[str, str]) -> None:
        from bench.supervisord import SupervisordSystem

        super().__init__(SupervisordSystem(env), ("restart", "web:*"))

    def app_config(self, port: int) -> str:
        return (
            "[program:web]\n"
            f"command={sys.executable} {APP} --port {port}\n"
            f"numprocs={WORKERS}\n"
            "process_name=%(program_name)s_%(process_num)s\n"
            "startsecs=1\nstopsignal=TERM\nstopwaitsecs=10\nautorestart=true\n"
        )


class GunicornWay(PeerWay):
    label = "supervisord + gunicorn, HUP"
    system = "supervisord"

    def __init__(self, env: Mapping[str, str]) -> None:
        from bench.supervisord import SupervisordSystem

        self.bin = GUNICORN.ensure()
        super().__init__(SupervisordSystem(env), ("signal", "HUP", "web"))

    def app_config(self, port: int) -> str:
        return (
            "[program:web]\n"
            f"command={self.bin / 'gunicorn'} --workers {WORKERS} --bind 127.0.0.1:{port} "
            f"--pythonpath {APP.parent} reload_app:wsgi\n"
            "startsecs=1\nstopsignal=TERM\nstopwaitsecs=10\nautorestart=true\n"
        )

    def workers(self) -> frozenset[procs.Proc]:
        """gunicorn's workers: the children of its master, supervisord's one child."""
        masters = procs.children(self._daemon_pid())
        return frozenset(w for m in masters for w in procs.children(m.pid))


WayFactory = Callable[[Mapping[str, str]], ReloadWay]
# Every way, in report order, and the system each needs (a peer missing: its rows are not run).
WAYS: list[tuple[str, WayFactory]] = [
    ("procward", lambda env: ProcwardWay(env, "surge")),
    ("procward", lambda env: ProcwardWay(env, "rolling")),
    ("supervisord", SupervisordRestartWay),
    ("supervisord", GunicornWay),
    ("circus", CircusWay),
    ("pm2", Pm2Way),
]
