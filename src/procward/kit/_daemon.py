"""``Daemon``: the lifecycle every local daemon needs, for subclasses to fill.

A subclass names itself (``prefix``, used for directories and environment
variables), declares RPC methods with ``@method(role=...)`` and overrides the
hooks it needs: ``on_start`` (after the lock and socket, before "ready"),
``on_stop`` (stop children, save state), ``on_start_failed`` (undo what a
start that failed began), ``on_reload`` (SIGHUP). ``run()`` does the rest:

    lock → bind (or take the activated socket) → on_start → serve →
    metadata → "ready" (ready pipe, sd_notify) → ... → shutdown

Shutdown, on SIGTERM/SIGINT, the ``shutdown`` method or idle time, is the
ritual of DESIGN.md, bounded by ``shutdown_timeout`` as a whole: stop accepting
→ cancel scheduled jobs → let in-flight requests finish → ``on_stop`` →
remove socket and metadata → exit 0. Signal handlers only set flags on the
loop; every decision runs in the loop.

While it serves, a check every ``vital_interval`` seconds heals what others
may break behind its back: a socket file removed (a tmp cleaner emptying
``/tmp/<prefix>-<uid>``, a stray ``rm``) is bound again, so clients do not
find a live daemon unreachable; a removed or changed ``daemon.json`` is
written again. A few ``stat`` calls; nothing else wakes an idle daemon.

``upgrade`` (admin) replaces the program in place, same pid, keeping the
lock, the listening socket and what ``on_handover`` returns (``handover``).

The daemon is the wiring of parts, each built with what it uses: the
upgrade (``handover.Upgrade``, which calls back the hooks above), the token
methods (``network.TokenMethods`` on ``network``) and the vital signs
(``vitals.Vitals``); their RPC methods are registered from the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable
from typing import Any, ClassVar

from procward.kit import _handover as handover
from procward.kit import _log as kitlog
from procward.kit import _notify as notify
from procward.kit import _spawn as spawn
from procward.kit._errors import AlreadyRunning, KitError
from procward.kit._eventloop import event_loop_factory
from procward.kit._limits import Limits
from procward.kit._lock import InstanceLock
from procward.kit._metadata import Metadata, remove_socket, running
from procward.kit._network import Network, TokenMethods
from procward.kit._paths import InstancePaths, resolve
from procward.kit._procinfo import ProcessIdentity
from procward.kit._rpc import CallContext, Peer, Registry, Role, TokenHints, method
from procward.kit._scheduler import Scheduler
from procward.kit._server import RpcServer, bind_unix, trust_own_uid
from procward.kit._tokens import TokenKeeper, max_ttl_from_environment
from procward.kit._vitals import Vitals

log = logging.getLogger("procward.kit.daemon")


class Daemon:
    prefix: ClassVar[str] = "daemon"
    version: ClassVar[str] = "0"
    shutdown_timeout: float = 25.0  # init systems SIGKILL at 30 s
    request_grace: float = 2.0  # of which in-flight requests may take this much
    vital_interval: float = 10.0  # seconds between checks that socket and metadata are there
    # Connections per transport and trust level, their deadlines and frame sizes (0026).
    connection_limits: ClassVar[Limits] = Limits()
    # The commands that get, list and revoke tokens, named in error messages (none by default).
    token_hints: ClassVar[TokenHints] = TokenHints()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.prefix == Daemon.prefix:
            raise TypeError(
                f"{cls.__name__} must set `prefix`: it names the daemon's directories "
                "and environment variables"
            )

    def __init__(
        self, paths: InstancePaths | None = None, *, idle_shutdown: float | None = None
    ) -> None:
        self.paths = paths or resolve(self.prefix)
        self.idle_shutdown = idle_shutdown
        self.registry = Registry(self.token_hints)
        self.scheduler = Scheduler()
        self.server = RpcServer(
            self.registry, authenticate=self.authenticate, limits=self.connection_limits
        )
        key = os.path.join(self.paths.state_dir, "token.key")
        issuer = f"{self.prefix}:{self.paths.instance}"
        max_ttl = max_ttl_from_environment(self.prefix)
        tokens = TokenKeeper(key, issuer, max_ttl=max_ttl, hints=self.token_hints)
        self.network = Network(self.server, tokens, realm=self.prefix)
        self.upgrader = handover.Upgrade(
            self,
            prefix=self.prefix,
            state_dir=self.paths.state_dir,
            server=self.server,
            network=self.network,
            scheduler=self.scheduler,
        )
        for part in (self, TokenMethods(self.network), self.upgrader):
            self.registry.collect(part)
        self.started_at = time.time()
        self.pid = os.getpid()  # after detach(): set again in run()
        self.log_file: kitlog.DaemonLogFile | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = ""
        self.force_stop = False  # shutdown(force=True): on_stop kills instead of stopping
        # What ``run`` returns after a stop: 0 for a clean one; a subclass sets more
        # before ``request_stop`` (an app gave up), and a stop that failed makes it 1.
        self.exit_status = 0
        self.start_warnings: list[str] = []  # for whoever started us (``start_warning``)
        self._bound_socket = False
        self.vitals = Vitals(self, self.paths, self.server)
        self.lock: InstanceLock | None = None
        self._listen_sock: socket.socket | None = None
        # In-place upgrade: what the previous program handed over (subclasses
        # read ``handed_over`` in on_start), and what this one will hand on.
        self.handed_over: dict[str, Any] | None = None
        self.handed_network: dict[str, dict[str, Any]] = {}
        self._handed_socket: int | None = None
        self._handed_bound = True
        self.stop_after_upgrade: str | None = None  # a stop asked for during an upgrade
        self._reloading: asyncio.Future[Any] | None = None

    # -- hooks for subclasses ------------------------------------------------

    async def on_start(self) -> None:
        """Runs before the daemon reports ready; raise to refuse to start."""

    async def on_stop(self) -> None:
        """Runs during shutdown after requests are done: stop children, save.

        With ``force_stop`` set (``shutdown(force=True)``), kill the children
        at once instead of waiting for them to stop.
        """

    async def on_start_failed(self) -> None:
        """``on_start`` (or what follows it) raised: undo what it started.

        Whatever on_start began (children, above all) must not outlive a
        daemon that never served: nobody would supervise it. Unlike
        ``on_stop``, this is not a change of what should run, so do not save
        state here.
        """

    def on_reload(self) -> Awaitable[None] | None:
        """SIGHUP: reload configuration (may be a coroutine function)."""
        return None

    async def before_upgrade(self) -> dict[str, Any]:
        """May the daemon upgrade now? Raise ``Conflict`` to refuse; extra reply fields."""
        return {}

    async def on_handover(self) -> tuple[dict[str, Any], list[int]]:
        """Instead of on_stop for an upgrade: stop threads and timers, keep children.

        Returns what the next program finds in ``handed_over`` (JSON) and the
        descriptors it must inherit (their numbers go in the JSON).
        """
        return {}, []

    def upgrade_argv(self) -> list[str]:
        """The program to exec for an upgrade: by default, this one's command line."""
        return [sys.executable, *sys.orig_argv[1:]]

    def preflight_argv(self) -> list[str]:
        """Run before letting go of anything; must exit 0 (default: ``… --check``)."""
        return [*self.upgrade_argv(), "--check"]

    def start_warning(self, text: str) -> None:
        """A problem at start that does not stop the daemon, for its starter to hear.

        Call it from ``on_start``: the text goes to the log and, with
        "ready", through the ready pipe to the command that started the
        daemon (``Client.start_warnings``), which can tell its user.
        """
        log.warning("%s", text)
        self.start_warnings.append(text)

    def is_idle(self) -> bool:
        """May idle shutdown stop the daemon now? (No clients is checked too.)"""
        return True

    def authenticate(self, sock: socket.socket | None) -> Peer | None:
        """The role of a new Unix-socket peer, or None to refuse it.

        By default the daemon's own uid and root are admin and everyone else
        is refused; override to map other uids (or groups) to lesser roles.
        """
        return trust_own_uid(sock)

    def addresses(self) -> dict[str, str]:
        found = {"unix": self.paths.socket}
        if self.network.address is not None:
            found["tcp"] = self.network.address
        if self.network.http_address is not None:
            found["http"] = self.network.http_address
        return found

    # -- built-in methods ------------------------------------------------------

    @method(Role.ANONYMOUS)
    def ping(self, ctx: CallContext) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "version": self.version,
            "uptime": round(time.time() - self.started_at, 3),
        }

    @method(Role.ADMIN)
    def shutdown(self, ctx: CallContext, force: bool = False) -> dict[str, Any]:
        """Stop the daemon; the reply is sent before it stops.

        ``force``: no courtesy for what it runs (``on_stop`` reads
        ``force_stop``: kill children at once rather than wait for them); the
        rest of the ritual (state saved, files removed, exit 0) is the same.
        """
        self.force_stop = self.force_stop or force
        reason = "forced shutdown requested" if force else "shutdown requested"
        asyncio.get_running_loop().call_soon(self.request_stop, reason)
        return {"success": True}

    # -- lifecycle ---------------------------------------------------------------

    def request_stop(self, reason: str = "") -> None:
        if self.upgrader.under_way and reason != "upgrade":
            # Before the hand-over: no upgrade, a plain stop. During it: the
            # new program stops as soon as it serves. Either way, not lost.
            self.stop_after_upgrade = self._stop_reason = reason
        if self._stop_requested is not None and not self._stop_requested.is_set():
            self._stop_reason = reason
            self._stop_requested.set()

    def run(self, *, detached: bool = False) -> int:
        """Run the daemon until it is told to stop; returns the exit status."""
        unreadable = None
        try:
            handed = handover.take(self.prefix)
        except handover.Unreadable as exc:  # start afresh: see kit.handover
            handed, unreadable = None, str(exc)
        ready = None if handed is not None or unreadable else spawn.ReadyPipe.from_env()
        if detached and ready is not None:
            spawn.detach()
        self.pid = os.getpid()
        _close_inherited(handed, ready)  # an unreadable hand-over's descriptors too, the lock's
        try:
            self.paths.ensure()
        except (KitError, OSError) as exc:
            return self._fail_start(ready, str(exc))
        self.log_file = kitlog.setup(self.prefix, detached=detached, log_path=self.paths.daemon_log)
        if unreadable:
            log.error("%s: starting afresh, as after a crash of the previous program", unreadable)
        lock = self.lock = InstanceLock(self.paths.lock)
        if handed is not None:
            lock.adopt(handed.lock_fd)
            self._handed_socket = handed.socket_fd
            self._handed_bound = handed.bound_socket
            self.handed_over = handed.app
            # Listeners the subclass may take over (``Network.adopt``); the rest are closed.
            self.handed_network = {kind: each.as_dict() for kind, each in handed.network.items()}
            self.stop_after_upgrade = handed.stop
        elif not lock.acquire():
            _, meta = running(self.paths)  # the lock's holder, whatever daemon.json says
            return self._fail_start(ready, str(AlreadyRunning(meta.pid if meta else None)))
        try:
            with asyncio.Runner(loop_factory=event_loop_factory(self.prefix)) as runner:
                error = runner.run(self._main(ready))
        finally:
            if self.upgrader.handing is None:
                lock.release()
        if self.upgrader.handing is not None:
            return self.upgrader.exec()
        # Reported only now, with the lock free, so that a caller who retries at
        # once finds the instance free rather than a daemon on its way out.
        return self.exit_status if error is None else self._fail_start(ready, error)

    def _fail_start(self, ready: spawn.ReadyPipe | None, text: str) -> int:
        log.error("cannot start: %s", text)
        if ready is not None:
            ready.fail(text)
        if sys.stderr is not None and not logging.getLogger().handlers:
            print(f"{self.prefix}: {text}", file=sys.stderr)
        return 1

    async def _main(self, ready: spawn.ReadyPipe | None) -> str | None:
        """Serve until stopped; the start-up error, if the daemon never served."""
        self._stop_requested = asyncio.Event()
        self._install_signal_handlers()
        starting = False  # on_start has begun: it may have started things to undo
        try:
            # Written before on_start so that `stop` can find (and signal) a
            # daemon whose on_start is still running, but after the socket:
            # one that cannot bind it may not be the instance's daemon (its
            # lock file was removed under a live one, whose file this is).
            # Written again once it serves.
            sock = self._listening_socket()
            self.update_metadata()
            starting = True
            await self.on_start()
            for unused in self.handed_network.values():  # listeners nobody took over
                os.close(int(unused["fd"]))
            self.handed_network = {}
            self.vitals.serving(await self.server.serve_socket(sock), self._bound_socket)
            self.update_metadata()
        except Exception as exc:
            if not isinstance(exc, KitError | OSError):
                log.exception("start-up failed")
            if starting:
                await self._undo_start()
            await self._stop_quietly(served=False)
            return str(exc) or type(exc).__name__
        self._start_background_jobs()
        if self.stop_after_upgrade:
            self.request_stop(self.stop_after_upgrade)
        log.info("serving on %s (pid %d, version %s)", self.paths.socket, os.getpid(), self.version)
        if ready is not None:
            ready.ready(warnings=self.start_warnings)
        notify.notify(f"READY=1\nSTATUS=serving\nMAINPID={os.getpid()}")
        await self._stop_requested.wait()
        if self.upgrader.under_way and not self.stop_after_upgrade and await self._hand_over():
            return None
        await self._shutdown()
        return None

    async def _hand_over(self) -> bool:
        assert self._listen_sock is not None and self.lock is not None
        return await self.upgrader.hand_over(
            lock=self.lock,
            listening=self._listen_sock,
            bound_socket=self._bound_socket,
            grace=self.request_grace,
        )

    async def _undo_start(self) -> None:
        try:
            await asyncio.wait_for(self.on_start_failed(), timeout=self.shutdown_timeout - 0.5)
        except Exception:
            log.exception("error while undoing a failed start")

    def _listening_socket(self) -> socket.socket:
        sock = self._take_listening_socket()
        self._listen_sock = sock
        return sock

    def _take_listening_socket(self) -> socket.socket:
        if self._handed_socket is not None:  # an upgrade: the socket clients already use
            sock = socket.socket(fileno=self._handed_socket)
            sock.set_inheritable(False)
            sock.setblocking(False)
            self._bound_socket = self._handed_bound
            return sock
        activated = notify.listen_fds()
        if activated:
            _name, sock = activated[0]
            sock.setblocking(False)
            log.info("using the socket passed by the service manager (%s)", _name)
            return sock
        sock = bind_unix(self.paths.socket)
        self._bound_socket = True
        return sock

    def update_metadata(self) -> None:
        """Write ``daemon.json`` (again, after the addresses changed), or warn.

        A disk that refuses (full) must not stop the daemon: the lock, not
        this file, says which process is the daemon (``running`` asks the
        lock's holder when the file is missing), and ``vitals`` writes it
        again once the disk allows.
        """
        try:
            self.vitals.write_metadata(self.metadata())
        except OSError as exc:
            text = f"cannot write {self.paths.metadata}: {exc.strerror or exc}; serving without it"
            if text not in self.start_warnings:
                self.start_warning(text)

    def metadata(self) -> Metadata:
        me = ProcessIdentity.current()
        return Metadata(
            pid=me.pid,
            starttime=me.starttime,
            boot_id=me.boot_id,
            version=self.version,
            socket=self.paths.socket,
            started_at=self.started_at,
            addresses=self.addresses(),
            warnings=self.network.cleartext(),
        )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        loop.add_signal_handler(signal.SIGUSR1, self._reopen_logs)
        # Blocked by the previous program across an upgrade's exec: what came
        # meanwhile is delivered now, to these handlers.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, handover.HANDLED_SIGNALS)

    def _reload(self) -> None:
        log.info("SIGHUP: reloading")
        try:
            result = self.on_reload()
            if inspect.isawaitable(result):
                self._reloading = asyncio.ensure_future(result)
        except Exception:
            log.exception("reload failed; carrying on with the old configuration")

    def _reopen_logs(self) -> None:
        if self.log_file is not None:
            self.log_file.reopen()
        self.on_reopen_logs()
        log.info("SIGUSR1: log files reopened")

    def on_reopen_logs(self) -> None:
        """SIGUSR1: reopen log files of your own (the daemon log is done already)."""

    def _start_background_jobs(self) -> None:
        interval = notify.watchdog_interval()
        if interval:
            self.scheduler.every(interval, _watchdog_ping, name="watchdog")
        if self.idle_shutdown:
            self.scheduler.every(
                max(0.05, self.idle_shutdown / 4), self._check_idle, name="idle-shutdown"
            )
        self.scheduler.every(self.vital_interval, self.vitals.check, name="vital-signs")
        self.scheduler.start()

    def _check_idle(self) -> None:
        assert self.idle_shutdown is not None
        quiet = time.monotonic() - self.server.last_activity
        if not self.server.connections and quiet >= self.idle_shutdown and self.is_idle():
            self.request_stop(f"idle for {quiet:.0f}s")

    async def _shutdown(self) -> None:
        deadline = time.monotonic() + self.shutdown_timeout
        log.info("shutting down (%s)", self._stop_reason or "requested")
        notify.notify("STOPPING=1")
        self.server.stop_accepting()
        await self.scheduler.stop()
        await self.server.finish_in_flight(min(self.request_grace, _left(deadline)))
        try:
            await asyncio.wait_for(self.on_stop(), timeout=_left(deadline) - 0.5)
        except TimeoutError:
            log.error("stopping took longer than %.0fs; exiting anyway", self.shutdown_timeout)
            self.exit_status = max(self.exit_status, 1)
        except Exception:
            log.exception("error while stopping")
            self.exit_status = max(self.exit_status, 1)
        await self._stop_quietly()
        log.info("stopped")

    async def _stop_quietly(self, *, served: bool = True) -> None:
        """Stop serving; remove the socket if we bound it, and ``daemon.json``.

        After a start that failed (``served`` False), ``daemon.json`` only if
        it is the one we wrote: a daemon that got the lock while another
        serves (its lock file was removed) fails to bind, and the file is
        then the live daemon's.
        """
        self.server.stop_accepting()
        await self.scheduler.stop()
        if self._bound_socket:
            remove_socket(self.paths)
        if served or self.vitals.metadata_is_ours():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.metadata)


def _close_inherited(handed: handover.Handover | None, ready: spawn.ReadyPipe | None) -> None:
    """Close what the starter's shell left open, keeping what is ours to take."""
    if handed is not None and handed.fds is None:
        return  # handed over by a program that did not list its descriptors: keep all
    keep = set(notify.activated_fds())
    if handed is not None:
        keep.update(handed.fds or ())
    if ready is not None and ready.fd is not None:
        keep.add(ready.fd)
    spawn.close_inherited(keep)


def _watchdog_ping() -> None:
    notify.notify("WATCHDOG=1")


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
