"""What ``procward run`` adds in the foreground: its config file, ``--logs``, ``--exit-on``.

The container's form of the daemon (``procward run -c procward.toml
--logs`` as PID 1): the file is read before any app is touched (a bad one
and the daemon does not start, exit 1) and applied once the saved state is
back, as ``up -c`` would; every app's output is mirrored to our stdout and
stderr (``supervision/console.py``); and ``--exit-on`` ends the daemon when
an app gives up (``supervision/exiton.py``), its apps stopped in reverse
dependency order as for SIGTERM, with status 1 so that an orchestrator
restarts the container.

Loaded only when ``run`` is given one of these: the daemon of ``up`` and
of a service manager's plain ``run`` never imports it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING, TextIO

from procward.kit._structs import Struct
from procward.supervision.config import Config, load_config
from procward.supervision.events import Event
from procward.supervision.exiton import ExitOn, container_exit
from procward.supervision.machine import State

if TYPE_CHECKING:
    from procward.daemon.parts.configs import Configs
    from procward.kit._daemon import Daemon
    from procward.supervision.console import Console
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")
CONSOLE_CLOSE = 2.0  # seconds to write out what the console holds, at the end


class RunOptions(Struct):
    """``run``'s foreground options, as the daemon's argv gives them."""

    config: str | None = None
    exit_on: ExitOn = ExitOn.NEVER
    logs: bool = False
    log_files: bool = True


class Foreground:
    """The parts of ``RunOptions`` at work, for the daemon's hooks to call in order."""

    def __init__(self, options: RunOptions, daemon: Daemon) -> None:
        self.options = options
        self.daemon = daemon
        self.config: Config | None = None
        self.console: Console | None = None
        self._restore_log: tuple[logging.StreamHandler[TextIO], TextIO] | None = None
        self._sup: Supervisor | None = None
        self.ending = False  # an exit ended the daemon: it is stopping its apps
        self.loading: asyncio.Task[None] | None = None  # the file's apps, starting

    def read_config(self) -> None:
        """Before any app is touched: the file read and checked (``ConfigError`` refuses)."""
        if self.options.config is not None:
            self.config = load_config(os.path.abspath(self.options.config))

    def attach(self, sup: Supervisor) -> None:
        """Before any app starts: the console in place, the exits watched."""
        self._sup = sup
        config = self.config
        if self.options.logs or (config is not None and config.console_logs):
            from procward.supervision.console import Console

            files = self.options.log_files and (config is None or config.log_files)
            self.console = sup.console = Console(log_files=files)
            self._log_through(self.console)
        if self.options.exit_on is not ExitOn.NEVER:
            sup.events.listeners.append(self._instance_changed)

    async def load(self, configs: Configs, grace: float) -> None:
        """The file's apps added or updated and started, as ``up -c`` does.

        The start waits for them at most ``grace`` seconds, as for the saved
        apps: a slow dependency chain goes on starting while the daemon serves.
        A file this daemon cannot apply (a conflict, a program not found)
        refuses the start.
        """
        if self.config is None:
            return
        self.loading = asyncio.get_running_loop().create_task(configs.apply_at_start(self.config))
        await asyncio.wait([self.loading], timeout=grace)
        if self.loading.done():
            self.loading.result()
        else:
            self.loading.add_done_callback(_log_failure)

    def stop_loading(self) -> None:
        """The daemon stops: what the file still had to start is not started."""
        if self.loading is not None:
            self.loading.cancel()

    def close(self) -> None:
        """At the very end: what the console holds written out, the daemon log back on stderr."""
        if self.console is None:
            return
        written = self.console.close(CONSOLE_CLOSE)  # then the log may write to fd 2 itself
        if self._restore_log is not None:
            handler, stream = self._restore_log
            handler.setStream(stream)
        if not written:
            log.warning("the console output is not being read: what it still held is lost")
        if self.console.dropped:
            log.warning(
                "%d lines of app output were dropped from the console", self.console.dropped
            )

    def _log_through(self, console: Console) -> None:
        """The daemon's own log lines through the console: never inside an app's line."""
        from procward.supervision.console import ConsoleText

        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                self._restore_log = (handler, handler.stream)
                handler.setStream(ConsoleText(console.stderr))

    def _instance_changed(self, event: Event) -> None:
        _when, app, index, before, after, pid, why = event
        code, sig = self._how_it_ended(app, index)
        status = container_exit(
            self.options.exit_on,
            State(before),
            State(after),
            code=code,
            signal=sig,
            ran=pid is not None,
        )
        if status is None:
            return
        if self.ending:  # any-exit: the worst of the exits seen until the daemon stops
            self.daemon.exit_status = max(self.daemon.exit_status, status)
            return
        self.ending = True
        self.daemon.exit_status = status
        reason = (
            f"{app}.{index} {after} ({why or 'no reason given'}; --exit-on {self.options.exit_on})"
        )
        log.warning("%s: stopping every app, then exiting with status %d", reason, status)
        asyncio.get_running_loop().call_soon(self.daemon.request_stop, reason)

    def _how_it_ended(self, app: str, index: int) -> tuple[int | None, int | None]:
        assert self._sup is not None
        found = self._sup.apps.get(app)
        if found is None or index >= len(found.instances):
            return None, None
        record = found.instances[index].record
        return record.exit_code, record.exit_signal


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("starting the apps of the config file: %s", task.exception())
