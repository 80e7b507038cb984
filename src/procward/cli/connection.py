"""What every command needs: the daemon connection (auto-spawning) and errors."""

from __future__ import annotations

import os
import sys

from procward._spawning import START_TIMEOUT, daemon_argv
from procward.kit._client import Client
from procward.kit._client import connect as connect_to
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable


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
    If this command started the daemon, what it warned of (a listener that
    could not bind...) is printed on stderr; it stays in ``start_warnings``.
    """
    remote = os.environ.get("PROCWARD_CONNECT")
    if remote:
        return Client.open_tcp(remote, os.environ.get("PROCWARD_TOKEN"), tls=tls_context())
    argv = daemon_argv(paths, "--detached") if spawn else None
    wait = float(os.environ.get("PROCWARD_WAIT", "2"))
    client = connect_to(paths, spawn_argv=argv, wait=wait, start_timeout=start_timeout())
    warn_of(client.start_warnings)
    return client


def tls_context() -> ssl.SSLContext | None:
    """TLS for ``--connect`` when a CA or a client certificate is given; else none."""
    ca_file = os.environ.get("PROCWARD_CA_FILE")
    cert = os.environ.get("PROCWARD_CLIENT_CERT")
    if not ca_file and not cert:
        return None
    from procward.kit._tls import TLSFilesError, client_context

    try:
        return client_context(ca_file, cert, os.environ.get("PROCWARD_CLIENT_KEY"))
    except TLSFilesError as exc:
        raise ConnectionError(f"TLS: {exc}") from None


def start_timeout() -> float:
    """How long to wait for a daemon this command starts (``$PROCWARD_START_TIMEOUT``)."""
    return float(os.environ.get("PROCWARD_START_TIMEOUT") or START_TIMEOUT)


def warn_of(warnings: Iterable[str]) -> None:
    for text in warnings:
        sys.stderr.write(f"procward: warning: {text}\n")
