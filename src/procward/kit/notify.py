"""systemd integration: sd_notify and socket activation, without libsystemd.

``notify("READY=1")`` sends one datagram to ``$NOTIFY_SOCKET`` (a path, or an
abstract name when it starts with ``@``); it is a no-op when the variable is
unset, so daemons call it unconditionally. ``watchdog_interval()`` reads
``WATCHDOG_USEC`` (honouring ``WATCHDOG_PID``) and answers how often to send
``WATCHDOG=1``: half the timeout, as sd_watchdog_enabled(3) recommends.

``listen_fds()`` takes the sockets passed by socket activation
(``LISTEN_PID``/``LISTEN_FDS``/``LISTEN_FDNAMES``, first fd 3), marks them
close-on-exec and removes the variables so no child believes they are its own.
"""

from __future__ import annotations

import os
import socket

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


def listen_fds() -> list[tuple[str, socket.socket]]:
    """The activated sockets as ``(name, socket)``; empty when not activated."""
    env = os.environ
    try:
        if int(env.get("LISTEN_PID", "0")) != os.getpid():
            return []
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    names = env.get("LISTEN_FDNAMES", "").split(":")
    for var in _ACTIVATION_VARS:
        env.pop(var, None)
    out = []
    for offset in range(count):
        fd = SD_LISTEN_FDS_START + offset
        os.set_inheritable(fd, False)
        name = names[offset] if offset < len(names) and names[offset] else "unknown"
        out.append((name, socket.socket(fileno=fd)))
    return out
