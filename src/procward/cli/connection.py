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
    listener instead, authenticated with ``$PROCWARD_TOKEN``; with
    ``--connect NAME``, the alias NAME of remotes.toml (``procward.remotes``).
    If this command started the daemon, what it warned of (a listener that
    could not bind...) is printed on stderr; it stays in ``start_warnings``.
    """
    remote = os.environ.get("PROCWARD_CONNECT")
    if remote:
        return connect_remote(remote)
    argv = daemon_argv(paths, "--detached") if spawn else None
    wait = float(os.environ.get("PROCWARD_WAIT", "2"))
    client = connect_to(paths, spawn_argv=argv, wait=wait, start_timeout=start_timeout())
    warn_of(client.start_warnings)
    return client


def connect_remote(target: str) -> Client:
    """``--connect``'s daemon: ``HOST:PORT`` (or ``tcp://HOST:PORT``), or an alias.

    An alias's token, CA and client certificate apply unless given on the
    command line (``--ca-file``...) or in ``$PROCWARD_TOKEN``.
    """
    if not is_alias(target):
        return Client.open_tcp(target, os.environ.get("PROCWARD_TOKEN"), tls=tls_context())
    from procward.remotes import RemotesError, require

    try:
        remote = require(target)
        token = os.environ.get("PROCWARD_TOKEN") or remote.token()
    except RemotesError as exc:
        hint = " (an address is HOST:PORT)" if str(exc).startswith("no remote") else ""
        raise ConnectionError(f"{exc}{hint}") from None
    tls = tls_context(remote.ca_file, remote.client_cert, remote.client_key)
    return Client.open_tcp(remote.address, token, tls=tls)


def is_alias(target: str) -> bool:
    """A name of remotes.toml, not an address (``host:port``, a port, ``tcp://...``)."""
    return ":" not in target and not target.isdigit()


def tls_context(
    ca_file: str | None = None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext | None:
    """TLS for ``--connect`` when a CA or a client certificate is given; else none.

    The command line's (``$PROCWARD_CA_FILE``...) before an alias's.
    """
    ca_file = os.environ.get("PROCWARD_CA_FILE") or ca_file
    cert = os.environ.get("PROCWARD_CLIENT_CERT") or cert
    key = os.environ.get("PROCWARD_CLIENT_KEY") or key
    if not ca_file and not cert:
        return None
    from procward.kit._tls import TLSFilesError, client_context

    try:
        return client_context(ca_file, cert, key)
    except TLSFilesError as exc:
        raise ConnectionError(f"TLS: {exc}") from None


def start_timeout() -> float:
    """How long to wait for a daemon this command starts (``$PROCWARD_START_TIMEOUT``)."""
    return float(os.environ.get("PROCWARD_START_TIMEOUT") or START_TIMEOUT)


def warn_of(warnings: Iterable[str]) -> None:
    for text in warnings:
        sys.stderr.write(f"procward: warning: {text}\n")
