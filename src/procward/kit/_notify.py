"""systemd integration: sd_notify and socket activation, without libsystemd.

``notify("READY=1")`` sends one datagram to ``$NOTIFY_SOCKET`` (a path, or an
abstract name when it starts with ``@``); it is a no-op when the variable is
unset, so daemons call it unconditionally. ``watchdog_interval()`` reads
``WATCHDOG_USEC`` (honouring ``WATCHDOG_PID``) and answers how often to send
``WATCHDOG=1``: half the timeout, as sd_watchdog_enabled(3) recommends.

``listen_fds()`` takes the sockets passed by socket activation
(``LISTEN_PID``/``LISTEN_FDS``/``LISTEN_FDNAMES``, first fd 3), marks them
close-on-exec and removes the variables so no child believes they are its own.

``NotifyReceiver`` is the supervisor's side: a socket children send those
same messages to, each known by the sender's pid.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

SD_LISTEN_FDS_START = 3
_ACTIVATION_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1\\nSTATUS=serving"``); True if sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        timeout = int(usec) / 1e6
    except ValueError:
        return None
    return timeout / 2 if timeout > 0 else None


def activated_fds() -> range:
    """The descriptors socket activation passed to this process (not taken yet)."""
    env = os.environ
    try:
        if int(env.get("LISTEN_PID", "0")) != os.getpid():
            return range(0)
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        return range(0)
    return range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + max(count, 0))


def listen_fds() -> list[tuple[str, socket.socket]]:
    """The activated sockets as ``(name, socket)``; empty when not activated."""
    env = os.environ
    fds = activated_fds()
    names = env.get("LISTEN_FDNAMES", "").split(":")
    if fds:
        for var in _ACTIVATION_VARS:
            env.pop(var, None)
    out = []
    for offset, fd in enumerate(fds):
        os.set_inheritable(fd, False)
        name = names[offset] if offset < len(names) and names[offset] else "unknown"
        out.append((name, socket.socket(fileno=fd)))
    return out


class NotifyReceiver:
    """The other end of ``sd_notify``: a datagram socket for children to report to.

    A supervisor sets ``NOTIFY_SOCKET`` to ``path`` in a child's environment;
    the child (or anything it starts) sends ``READY=1``, ``STATUS=...`` lines
    as under systemd. ``path`` may be a file path or, starting with ``@``, a
    name in the abstract namespace (no file, nothing to clean up). The
    kernel attaches the sender's credentials (``SO_PASSCRED``): messages from
    users other than ours (and root) are dropped, and ``on_message(pid,
    fields)`` runs in the loop for the rest; malformed lines are skipped,
    never fatal.

    Give each supervised unit a receiver of its own rather than telling units
    apart by sender pid: the sender is often a short-lived helper
    (``systemd-notify``, a script's one-liner) that has exited, and been
    reaped, before its datagram is read — systemd's own known race.
    """

    MAX_DATAGRAM = 4096

    def __init__(self, path: str, on_message: Callable[[int, dict[str, str]], None]) -> None:
        self.path = path
        self.on_message = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if path.startswith("@"):
                sock.bind("\0" + path[1:])
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # a datagram socket has no listener to ask: ours or stale
                sock.bind(path)
                os.chmod(path, 0o600)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        space = socket.CMSG_SPACE(_UCRED.size)
        while True:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(self.MAX_DATAGRAM, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sender = _sender(ancillary)
            if sender is not None and sender[1] in (os.geteuid(), 0):
                self.on_message(sender[0], parse_notify(data))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()
        if not self.path.startswith("@"):
            with contextlib.suppress(OSError):
                os.unlink(self.path)


_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


def _sender(ancillary: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    """(pid, uid) of a datagram's sender, as the kernel reports it."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, _gid = _UCRED.unpack(data[: _UCRED.size])
            return int(pid), int(uid)
    return None


def parse_notify(data: bytes) -> dict[str, str]:
    """``b"READY=1\\nSTATUS=up"`` -> ``{"READY": "1", "STATUS": "up"}``; junk lines skipped."""
    fields = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields
