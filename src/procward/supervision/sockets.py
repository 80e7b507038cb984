"""Listening sockets held by the daemon and handed to an app's processes.

``sockets = { http = "127.0.0.1:8000" }`` makes the daemon bind the address
once and pass it to every process of the app as systemd socket activation
does: fd 3 onwards, with ``LISTEN_FDS``, ``LISTEN_FDNAMES`` and
``LISTEN_PID``. Why: one listening socket, and so one accept queue, outlives
every generation of the app. A restart loses no connection (they wait in the
queue) and a ``reload = "surge"`` hands over with none refused or reset —
which two processes binding the port with ``SO_REUSEPORT`` cannot promise,
since each has its own queue and a closing one resets what waits in it.
Apps read them with ``sd_listen_fds`` (gunicorn, uvicorn ``--fd 3``, Go's
``coreos/go-systemd``, ``procward.kit._notify.listen_fds``).

TCP sockets get ``TCP_NODELAY`` here, because some apps never set it on a
socket they did not bind: uvicorn ``--fd`` takes the fd for a Unix socket,
and Nagle's algorithm then holds each small response of a keep-alive
connection for the peer's delayed ACK (a median of 44 ms instead of 2 ms).
On Linux an accepted connection inherits the option from its listener.

The fds must land on 3, 4, …, which ``subprocess`` cannot do, so these apps
are started with ``posix_spawn`` (``process.spawn`` with ``pass_fds``), and
``LISTEN_PID`` must be the app's own pid, unknown before the spawn, so the
app is started through a short ``/bin/sh`` prologue that enters the working
directory, exports its own pid (``$$``, kept by ``exec``) and execs the app.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from collections.abc import Mapping

from procward.kit._structs import Struct, replace
from procward.supervision.probe import tcp_address
from procward.supervision.process import SpawnError, check_runnable
from procward.supervision.spec import Launch

__all__ = ["HeldSockets", "check_address", "with_sockets"]

BACKLOG = 1024
_HIGH_FD = 100  # held sockets live above the fds they are moved to in the child

# $1.. are the app's argv; the sockets are at fds 3.. already (process.spawn).
_PROLOGUE = """\
if [ -n "$PROCWARD_CWD" ]; then cd -- "$PROCWARD_CWD" || exit 126; fi
unset PROCWARD_CWD
LISTEN_PID=$$; export LISTEN_PID
exec "$@"
"""


class Address(Struct):
    text: str
    path: str | None = None  # a Unix socket
    host: str = ""
    port: int = 0


def check_address(text: str) -> Address:
    """``"127.0.0.1:8000"``, ``"8000"`` (127.0.0.1), ``"[::1]:80"`` or a Unix path."""
    if text.startswith("unix:"):
        text = text.removeprefix("unix:")
        if not text.startswith("/"):
            raise ValueError(f"a Unix socket needs an absolute path, got {text!r}")
    if text.startswith("/"):
        if len(os.fsencode(text)) > 107:
            raise ValueError(f"Unix socket path too long for the kernel (107 bytes): {text!r}")
        return Address(text, path=text)
    address = tcp_address(text)
    return Address(text, host=address.host, port=address.port)


def bind(text: str) -> socket.socket:
    """A listening socket on ``text``, its fd close-on-exec and above ``_HIGH_FD``."""
    address = check_address(text)
    if address.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        where: str | tuple[str, int] = address.path
        _remove_stale(address.path)
    else:
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _no_delay(sock)
        where = (address.host, address.port)
    try:
        sock.bind(where)
        sock.listen(BACKLOG)
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
    except OSError as exc:
        sock.close()
        raise SpawnError(f"cannot listen on {text}: {exc.strerror or exc}") from None
    sock.close()
    return socket.socket(fileno=high)


def _no_delay(sock: socket.socket) -> None:
    """No Nagle delay on a TCP socket (and on the connections it accepts)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _remove_stale(path: str) -> None:
    """Remove a socket file nobody listens on; leave anything else to fail the bind."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError:
            return
        # Someone serves there: the bind fails with "address in use".


class HeldSockets:
    """The bound sockets of one app, in the order of its ``sockets`` table."""

    def __init__(self, spec: Mapping[str, str]) -> None:
        self.spec = dict(spec)
        self.sockets: list[socket.socket] = []
        try:
            for address in spec.values():
                self.sockets.append(bind(address))
        except SpawnError:
            self.close()
            raise

    @classmethod
    def adopted(cls, spec: Mapping[str, str], fds: list[int]) -> HeldSockets:
        """The sockets a previous program of this daemon bound, handed over by fd."""
        held = cls.__new__(cls)
        held.spec = dict(spec)
        held.sockets = [socket.socket(fileno=fd) for fd in fds]
        for sock in held.sockets:
            sock.set_inheritable(False)
            _no_delay(sock)  # bound by a program from before it was set
        return held

    def close(self) -> None:
        for sock in self.sockets:
            if sock.family == socket.AF_UNIX:
                path = sock.getsockname()
                if isinstance(path, str) and path:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            sock.close()
        self.sockets = []


def with_sockets(plan: Launch, held: HeldSockets) -> Launch:
    """``plan`` started through the prologue that hands it ``held`` as fds 3, 4, …"""
    check_runnable(plan)
    env = {
        **plan.env,
        "PROCWARD_CWD": plan.cwd or "",
        "LISTEN_FDS": str(len(held.sockets)),
        "LISTEN_FDNAMES": ":".join(held.spec),
    }
    argv = ("/bin/sh", "-c", _PROLOGUE, "procward-sockets", *plan.argv)
    fds = tuple(sock.fileno() for sock in held.sockets)
    return replace(plan, argv=argv, env=env, cwd=None, pass_fds=fds)
