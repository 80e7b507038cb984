"""In-place upgrade: a daemon replaces its own program and keeps what it holds.

The daemon ``execv``s the (new) program with the same pid, so its children
stay its children, and passes across the exec the descriptors that matter:
the instance lock (the same locked open file, so the instance is never free
for a moment), the listening socket (clients that connect meanwhile wait in
its backlog instead of being refused) and whatever the subclass adds (pipes
of its children, sockets it holds for them). What they are goes in a small
JSON file named by ``<PREFIX>_HANDOVER`` in the new program's environment;
the new program reads it, removes it, and adopts the descriptors.

That file is a ``Handover`` record with a ``version``. A program that
cannot read it (another version, a damaged file) has no safe way to adopt
descriptors it cannot name, and the old program is gone: it starts afresh,
as after a crash of the old one. It closes every descriptor it inherited
(the lock among them), takes the lock as any start does, and its
``on_start`` finds the running children as a dead daemon's leftovers (for
procward: ended and started again from ``state.json``). Never two daemons
(one lock), never children left with nobody to supervise them.

Before it lets go of anything the old program runs the new one's
pre-flight (``argv + [--check]`` by default): a new version that cannot even
start is refused while the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
from typing import Any, Protocol

from procward.kit import _children as children
from procward.kit import _notify as notify
from procward.kit._atomic import write_atomic
from procward.kit._errors import Conflict
from procward.kit._lock import InstanceLock
from procward.kit._network import Network
from procward.kit._rpc import CallContext, Role, method
from procward.kit._scheduler import Scheduler
from procward.kit._server import RpcServer
from procward.kit._structs import RecordError, Struct, field

log = logging.getLogger("procward.kit.daemon")

VERSION = 1  # of ``Handover``; programs before the record called it "format"
HANDLED_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}


def env_name(prefix: str) -> str:
    return f"{prefix.upper()}_HANDOVER"


def preflight(argv: list[str], timeout: float = 60.0) -> str | None:
    """Run ``argv``; None if it exits 0, else what went wrong, for people."""
    try:
        # Claimed: the daemon's reaper (waitpid(-1)) must not take its status.
        done = children.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).strip().splitlines()
    return said[-1] if said else f"exit status {done.returncode}"


class Listener(Struct):
    """A listening socket handed over (``Network.hand_over``)."""

    fd: int
    address: str


class Handover(Struct):
    """What crosses the exec: the kit's envelope around the subclass's ``app`` payload."""

    version: int
    lock_fd: int
    socket_fd: int
    bound_socket: bool = True  # the socket file is ours to remove, else the service manager's
    network: dict[str, Listener] = field(default_factory=dict)  # by kind: "tcp", "http"
    app: dict[str, Any] = field(default_factory=dict)  # what ``on_handover`` returned
    stop: str | None = None  # a stop asked for during the upgrade: carried out once serving
    fds: list[int] | None = None  # every descriptor handed over; None: keep all inherited


class Unreadable(ValueError):
    """A hand-over this program cannot take (another version, a damaged file)."""


def write(path: str, handed: Handover) -> None:
    """Save ``handed`` for the next program and let its ``fds`` survive the exec.

    ``fds`` go in the file too: the next program closes every other
    descriptor it inherited (``spawn.close_inherited``). ``format`` is the
    version's old name, for a program from before the record (a downgrade).
    """
    write_atomic(path, json.dumps({**handed.as_dict(), "format": handed.version}).encode())
    for fd in handed.fds or ():
        os.set_inheritable(fd, True)


def take(prefix: str) -> Handover | None:
    """What the previous program handed over, if this one was exec'd by it.

    The file and the variable are removed: a daemon started later by other
    means must not adopt stale descriptors. Every descriptor taken over is
    made close-on-exec again by its adopter. ``Unreadable`` when there is a
    hand-over but not one this program can take (see the module's docstring).
    """
    path = os.environ.pop(env_name(prefix), None)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise Unreadable(f"cannot read the hand-over {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return parse(raw, path)


def parse(raw: bytes, where: str = "hand-over") -> Handover:
    """The ``Handover`` in ``raw``; ``Unreadable`` saying why not."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Unreadable(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise Unreadable(f"{where}: not a hand-over (a JSON object)")
    version = data.get("version", data.get("format"))  # "format": before the record
    if version != VERSION:
        raise Unreadable(f"{where}: of version {version!r}, this program reads version {VERSION}")
    try:
        return Handover.from_dict({**data, "version": version})
    except RecordError as exc:
        raise Unreadable(f"{where}: {exc}") from None


class UpgradeHooks(Protocol):
    """What ``Upgrade`` asks of its daemon: the hooks a subclass overrides, and a stop."""

    async def before_upgrade(self) -> dict[str, Any]: ...

    async def on_handover(self) -> tuple[dict[str, Any], list[int]]: ...

    def upgrade_argv(self) -> list[str]: ...

    def preflight_argv(self) -> list[str]: ...

    def request_stop(self, reason: str = "") -> None: ...

    @property
    def stop_after_upgrade(self) -> str | None:
        """A stop asked for during the upgrade, for the next program to carry out."""


class Upgrade:
    """The ``upgrade`` method and the hand-over: a part ``Daemon`` holds.

    ``upgrade`` (RPC) checks and asks the daemon to stop for an upgrade;
    the daemon's loop then calls ``hand_over`` instead of shutting down, and
    ``run`` calls ``exec`` once the loop is gone.
    """

    def __init__(
        self,
        hooks: UpgradeHooks,
        *,
        prefix: str,
        state_dir: str,
        server: RpcServer,
        network: Network,
        scheduler: Scheduler,
    ) -> None:
        self.hooks = hooks
        self.prefix = prefix
        self.state_dir = state_dir
        self.server = server
        self.network = network
        self.scheduler = scheduler
        self.under_way = False  # ``upgrade`` accepted: the next stop is a hand-over
        self.handing: Handover | None = None  # what ``exec`` passes on

    @method(Role.ADMIN)
    async def upgrade(self, ctx: CallContext) -> dict[str, Any]:
        """Replace the daemon's program in place: same pid, children kept running.

        Refused, with the daemon serving on, when the new program's pre-flight
        fails or ``before_upgrade`` objects.
        """
        if self.under_way:
            raise Conflict("an upgrade is already under way")
        problem = await asyncio.to_thread(preflight, self.hooks.preflight_argv())
        if problem is not None:
            raise Conflict(f"upgrade refused: the new program does not start: {problem}")
        extra = await self.hooks.before_upgrade()
        self.under_way = True
        asyncio.get_running_loop().call_soon(self.hooks.request_stop, "upgrade")
        return {"upgrading": True, "pid": os.getpid(), **extra}

    async def hand_over(
        self,
        *,
        lock: InstanceLock,
        listening: socket.socket,
        bound_socket: bool,
        grace: float,
    ) -> bool:
        """Stop serving but keep the lock, socket and children; False to shut down instead.

        ``bound_socket``: the socket file is ours to remove (else the service
        manager's).
        """
        log.info("upgrading in place (pid %d)", os.getpid())
        notify.notify("RELOADING=1\nSTATUS=upgrading")
        sock_fd = os.dup(listening.fileno())  # the server's copy closes below
        network = self.network.hand_over()  # TCP and HTTP listeners, likewise
        self.server.stop_accepting()
        await self.scheduler.stop()
        await self.server.finish_in_flight(grace)
        try:
            payload, fds = await self.hooks.on_handover()
        except Exception:
            log.exception("handing over failed; shutting down instead")
            for fd in (sock_fd, *(each["fd"] for each in network.values())):
                os.close(fd)
            return False
        # From here until the new program installs its handlers, a SIGTERM
        # must wait (blocked, pending across the exec) rather than find no
        # handler or a loop that no longer runs. One that came just before
        # is handled now, by the loop, into ``stop_after_upgrade``.
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        await asyncio.sleep(0.01)
        lock_fd = lock.fileno()
        listeners = {kind: Listener(**each) for kind, each in network.items()}
        self.handing = Handover(
            version=VERSION,
            lock_fd=lock_fd,
            socket_fd=sock_fd,
            bound_socket=bound_socket,
            network=listeners,
            app=payload,
            stop=self.hooks.stop_after_upgrade,  # read last: a SIGTERM may just have come
            fds=[lock_fd, sock_fd, *(each.fd for each in listeners.values()), *fds],
        )
        return True

    def exec(self) -> int:
        """Exec the next program with what ``hand_over`` kept; returns only on failure (1)."""
        assert self.handing is not None
        path = os.path.join(self.state_dir, "handover.json")
        argv = self.hooks.upgrade_argv()
        try:
            write(path, self.handing)
            os.environ[env_name(self.prefix)] = path
            logging.shutdown()  # flush: the new program appends to the same log
            os.execv(argv[0], argv)  # signals blocked since hand_over
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
            log.critical("upgrade failed, cannot exec %s: %s", argv[0], exc)
        return 1
