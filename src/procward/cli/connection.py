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
