"""What every command needs: the daemon connection (auto-spawning) and errors."""

from __future__ import annotations

import os
import sys

from procward.client import daemon_argv
from procward.kit.client import Client
from procward.kit.client import connect as connect_to
from procward.kit.paths import InstancePaths


def fail(message: str, code: int) -> int:
    sys.stderr.write(f"procward: {message}\n")
    return code


def output_closed() -> bool:
    """Has the reader of our stdout gone (a pipe with no reader left)?

    How a ``BrokenPipeError`` from printing is told apart from one of the
    daemon's socket: only the former is a normal end of a command.
    """
    import select  # a C module, and only on this rare path

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def connect(paths: InstancePaths, spawn: bool = True) -> Client:
    """The instance's daemon, started first unless ``spawn`` is False.

    With ``--connect HOST:PORT`` (``$PROCWARD_CONNECT``), a daemon's TCP
    listener instead, authenticated with ``$PROCWARD_TOKEN``.
    """
    remote = os.environ.get("PROCWARD_CONNECT")
    if remote:
        return Client.open_tcp(remote, os.environ.get("PROCWARD_TOKEN"))
    argv = daemon_argv(paths, "--detached") if spawn else None
    return connect_to(paths, spawn_argv=argv, wait=float(os.environ.get("PROCWARD_WAIT", "2")))
