"""What the peers (supervisord, Circus, PM2) share: a private home, a daemon found
through its pidfile, and a clean-up that ends it by pid.

Each peer daemonizes as a user would run it, so the bench is not the daemon's
parent and cannot wait for it: it finds the daemon through the pidfile the
peer writes in its private ``/tmp`` home, and trusts that pid only while the
process carries ``<mark_env>=<home>`` in its environment (every app inherits
the mark). Clean-up asks the daemon to quit with the peer's own command, then
SIGKILLs by pid whatever still carries the mark and the group of every app the
bench saw: never by name (no ``pkill``/``killall``), so nothing this harness
did not start is touched.

A peer subclasses ``PeerSystem``, names its mark, home prefix, pidfile and
quit command, and implements what is its own: config, commands, connection.
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import procs
from bench.measure import Command, CommandFailed, run
from bench.systems import CleansUp

READY_TIMEOUT = 30.0  # s: the longest a peer's daemon may take to appear, answer or quit
SWEEPS = 10  # clean-up rescans the marked processes this often before it gives up


class PeerSystem(CleansUp):
    """A peer's daemon in a private home, marked in its environment, ended by pid."""

    name: str  # the system's name in the report ("supervisord")
    under_test = False
    daemon_name: str  # the daemon in messages ("circusd")

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        mark_env: str,
        home_prefix: str,
        config: str,
        pidfile: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """A fresh home ``/tmp/<home_prefix>*`` holding ``config`` and the daemon's
        ``pidfile``; ``mark_env=<home>`` (and ``extra_env``) in the environment of every
        command, hence of the daemon and its apps."""
        self.mark_env = mark_env
        self.home = tempfile.mkdtemp(prefix=home_prefix, dir="/tmp")
        self.env = {**env, mark_env: self.home, **(extra_env or {})}
        self.conf = os.path.join(self.home, config)
        self.pidfile = os.path.join(self.home, pidfile)
        self.warnings: list[str] = []
        self._daemon: procs.Proc | None = None
        self._closed = False
        # A peer without bindings in the bench's interpreter talks through a helper process.
        self._helper: subprocess.Popen[str] | None = None
        self._apps_seen: dict[int, procs.Proc] = {}  # every app process status showed us
        self._pids_by_app: dict[str, set[int]] = {}

    # -- hooks ---------------------------------------------------------------------------

    def up_command(self, config: str) -> Command:
        """The peer's own command that starts its daemon (and the apps in ``config``)."""
        raise NotImplementedError

    def _wait_serving(self) -> None:
        """Wait until the daemon answers; by default its pidfile (``attach``) is enough."""

    def _quit_command(self) -> Command:
        """The peer's own command that makes its daemon exit (and stop its apps)."""
        raise NotImplementedError

    def _log_path(self, app: str) -> str:
        """Where the peer is told to write ``app``'s stdout (``write_config``)."""
        return os.path.join(self.home, "logs", f"{app}.out")

    def disconnect(self) -> None:
        """Close the persistent connection: by default, end the helper process."""
        helper, self._helper = self._helper, None
        if helper is not None:
            stop_helper(helper)

    # -- System --------------------------------------------------------------------------

    def start(self) -> float:
        """Start the daemon as a user would; the time until it serves."""
        started = time.perf_counter()
        run(self.up_command(self.conf))
        self.attach()
        self._wait_serving()
        return time.perf_counter() - started

    def stop(self) -> float:
        """Quit the daemon the way a user would; raise if it does not exit in time."""
        started = time.perf_counter()
        self.disconnect()
        daemon = self._daemon or self._read_daemon()
        command = self._quit_command()
        run(command, timeout=READY_TIMEOUT)
        if daemon is not None and not wait_gone(daemon, READY_TIMEOUT):
            raise RuntimeError(
                f"{self.daemon_name} {daemon.pid} still runs after `{command.label}`"
            )
        return time.perf_counter() - started

    def daemon_pid(self) -> int:
        if self._daemon is None:
            raise RuntimeError(f"{self.daemon_name} is not started")
        return self._daemon.pid

    # -- AppSystem -----------------------------------------------------------------------

    def attach(self) -> None:
        """Wait for the detached daemon's pidfile (written after it forked)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            daemon = self._read_daemon()
            if daemon is not None and daemon.is_alive():
                self._daemon = daemon
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.daemon_name} wrote no pidfile of a live process in {self.home}"
                )
            time.sleep(0.005)

    def upgrade_label(self) -> str:
        """No in-place upgrade by default: quit, then start again with the same config."""
        return f"`{self._quit_command().label}`, then `{self.up_command(self.conf).label}`"

    def upgrade(self) -> None:
        """The default: quit the daemon (wait until it is gone), start it again with the
        same config and wait until it answers; ``attach`` makes the new daemon the one
        clean-up ends."""
        self.stop()
        self.start()

    def log_files(self, app: str, backups: int) -> list[str]:
        live = self._log_path(app)
        return [*(f"{live}.{n}" for n in range(backups, 0, -1)), live]

    def supports_timestamps(self) -> bool:
        # Each peer has its own timestamp format, which the log check cannot read.
        return False

    def cleanup(self) -> None:
        """Quit, then kill by pid what is left, then remove the home: each step even if
        the one before failed, and only once."""
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

    # -- internals -----------------------------------------------------------------------

    def _ask_helper(self, argv: list[str], request: dict[str, Any]) -> dict[str, Any]:
        """One JSON request over the helper's persistent connection (started on first use,
        with ``argv``): the helper answers each line with one line."""
        if self._helper is None:
            self._helper = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, text=True
            )
        helper = self._helper
        assert helper.stdin is not None and helper.stdout is not None
        helper.stdin.write(json.dumps(request) + "\n")
        helper.stdin.flush()
        line = helper.stdout.readline()
        if not line:
            self.disconnect()
            raise RuntimeError(f"{self.name}: the connection helper exited")
        return dict(json.loads(line))

    def _count_restarts(self, app: str, pid: int | None) -> int:
        """Restarts of ``app`` so far, for a peer that reports no count: the pids seen, - 1."""
        if pid is not None:
            self._pids_by_app.setdefault(app, set()).add(pid)
            self._remember_app(pid)
        return max(0, len(self._pids_by_app.get(app, ())) - 1)

    def _remember_app(self, pid: int) -> None:
        """Note app process ``pid`` (pid and start time): clean-up kills its group if it
        outlives the daemon."""
        if pid not in self._apps_seen:
            p = procs.proc(pid)
            if p is not None:
                self._apps_seen[pid] = p

    def _read_daemon(self) -> procs.Proc | None:
        try:
            pid = int(Path(self.pidfile).read_text().strip())
        except (OSError, ValueError):
            return None
        p = procs.proc(pid)
        # Only ours if it carries our mark: a stale pidfile could name a recycled pid.
        if p is None or not procs.has_environment(pid, self.mark_env, self.home):
            return None
        return p

    def _quit_quietly(self) -> None:
        """``stop()`` for clean-up: a failure is a warning, and the kill comes next anyway."""
        daemon = self._daemon or self._read_daemon()
        if daemon is None or not daemon.is_alive():
            return
        command = self._quit_command()
        try:
            run(command, timeout=READY_TIMEOUT)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            self._warn(f"`{command.label}` failed during clean-up: {exc}")
            return
        if not wait_gone(daemon, READY_TIMEOUT):
            self._warn(
                f"{self.daemon_name} {daemon.pid} still ran {READY_TIMEOUT:g} s "
                f"after `{command.label}`"
            )

    def _kill_leftovers(self) -> None:
        """SIGKILL, by pid, the daemon first (so it spawns nothing more), then every process
        that carries our mark and the groups of the apps seen, rescanning until none is left."""
        daemon = self._daemon or self._read_daemon()
        after = self._quit_command().label
        for _ in range(SWEEPS):
            suspects = {p.pid: p for p in procs.with_environment(self.mark_env, self.home)}
            for p in (daemon, *self._apps_seen.values()):
                if p is not None and p.is_alive():
                    suspects[p.pid] = p
            if not suspects:
                return
            ordered = sorted(suspects.values(), key=lambda p: daemon is None or p.pid != daemon.pid)
            for p in ordered:
                what = procs.command_line(p.pid)
                if p.pid in self._apps_seen:
                    kill_group(p)  # an app leads its own group (each peer puts it in one)
                exited = procs.kill_and_wait(p)
                self._warn(
                    f"process {p.pid} ({what}) was still running after `{after}`; "
                    + ("SIGKILLed it" if exited else "it survived SIGKILL")
                )
        self._warn(f"processes with our mark kept appearing; gave up after {SWEEPS} sweeps")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"bench: {self.name}: {message}", file=sys.stderr)


def stop_helper(helper: subprocess.Popen[str]) -> None:
    """End a connection helper: EOF on its stdin, then SIGKILL if it lingers (our own
    child, by its pid)."""
    with contextlib.suppress(OSError):
        if helper.stdin is not None:
            helper.stdin.close()
    try:
        helper.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()
    if helper.stdout is not None:
        helper.stdout.close()


def kill_group(p: procs.Proc) -> None:
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


def wait_gone(p: procs.Proc, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``p`` to exit; False if it still runs."""
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return True
    try:
        # Not our child (it detached): it is reaped by init, so watch its identity too.
        deadline = time.monotonic() + timeout
        while p.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            procs.wait_exit(fd, min(left, 0.05))
        return True
    finally:
        os.close(fd)
