"""``procward.Client`` and ``procward.AsyncClient``: talk to a procward daemon from Python.

    from procward import Client

    with Client() as pw:                        # this user's daemon, started if need be
        pw.restartApp(name="web")
        for app in pw.list():                   # records: AppView, InstanceView...
            print(app.name, [i.state for i in app.instances])

    Client(instance="ci")                       # another instance of this machine
    Client(remote="prod")                       # an alias of ~/.config/procward/remotes.toml
    Client.connect("tcp://10.0.0.5:9700", token=..., ca_file=...)

Every method of the daemon is a typed method here (``_methods.py``, made
from the daemon's registry), with keyword arguments; its reply is the
record the method declares (``procward.replies``, ``procward.reports``).
``call(name, **params)`` reaches any method by name and returns the reply
as it came. Errors are the kit's (``procward.kit``: ``NotFound``,
``Forbidden``, ``Conflict``...), exactly as the daemon raised them. Streams
(``followLogs``, ``followEvents``) open a connection of their own, ended
when the stream is closed or dropped (``_streams.py``). See docs/client.md.
"""

from __future__ import annotations

from procward._methods import AsyncMethods, Methods
from procward._spawning import START_TIMEOUT, daemon_argv
from procward._streams import AsyncStream, Notification, Stream
from procward.kit._client import Client as _Connection
from procward.kit._paths import InstancePaths, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable
    from typing import Any

    from procward.kit._aclient import AsyncClient as _AsyncConnection

__all__ = ["START_TIMEOUT", "AsyncClient", "Client", "Notification", "daemon_argv"]


class Client(Methods):
    """A connection to a daemon of this machine (auto-started) or, by alias, of another."""

    def __init__(
        self,
        instance: str | None = None,
        *,
        remote: str | None = None,
        paths: InstancePaths | None = None,
        spawn: bool = True,
        wait: float = 2.0,
    ) -> None:
        self.paths: InstancePaths | None = None
        if remote is not None:
            if instance is not None or paths is not None:
                raise ValueError("a remote daemon has no instance or paths of this machine")
            self._open = _remote_opener(remote)
            self._conn = self._open()
            return
        self.paths = paths or resolve("procward", instance)
        argv = daemon_argv(self.paths, "--detached") if spawn else None
        self._open = _local_opener(self.paths, argv, wait)
        self._conn = self._open()

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> Client:
        """A daemon's TCP listener (``tcp://HOST:PORT``), authenticated with ``token``.

        ``ca_file``: TLS, verifying the daemon against this CA; ``client_cert``
        and ``client_key`` for a daemon that asks for a client certificate.
        """
        tls = _tls(ca_file, client_cert, client_key)
        client = cls.__new__(cls)
        client.paths = None
        client._open = lambda: _Connection.open_tcp(url, token, tls=tls)
        client._conn = client._open()
        return client

    @property
    def start_warnings(self) -> list[str]:
        """What the daemon warned of, if this client started it."""
        return self._conn.start_warnings

    def call(self, method: str, /, **params: Any) -> Any:
        """Call any method by name; its reply as it came (no record)."""
        return self._conn.call(method, params)

    def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        sent = {key: value for key, value in params.items() if value is not None}
        return decode(result, self._conn.call(method, sent))

    def _follow(self, method: str, params: dict[str, Any]) -> Stream:
        sent = {key: value for key, value in params.items() if value is not None}
        return Stream(self._open(), method, sent)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(AsyncMethods):
    """``Client`` for asyncio: the same constructors; connects on ``async with`` or first use."""

    def __init__(
        self,
        instance: str | None = None,
        *,
        remote: str | None = None,
        paths: InstancePaths | None = None,
        spawn: bool = True,
        wait: float = 2.0,
    ) -> None:
        self.paths: InstancePaths | None = None
        self._conn: _AsyncConnection | None = None
        if remote is not None:
            if instance is not None or paths is not None:
                raise ValueError("a remote daemon has no instance or paths of this machine")
            from procward.remotes import require

            target = require(remote)
            tls = _tls(target.ca_file, target.client_cert, target.client_key)
            self._open = _async_tcp_opener(target.address, target.token(), tls)
            return
        self.paths = paths or resolve("procward", instance)
        argv = daemon_argv(self.paths, "--detached") if spawn else None
        self._open = _async_local_opener(self.paths, argv, wait)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> AsyncClient:
        """As ``Client.connect``; the connection is made on first use."""
        client = cls.__new__(cls)
        client.paths = None
        client._conn = None
        client._open = _async_tcp_opener(url, token, _tls(ca_file, client_cert, client_key))
        return client

    async def _connection(self) -> _AsyncConnection:
        if self._conn is None:
            self._conn = await self._open()
        return self._conn

    async def call(self, method: str, /, **params: Any) -> Any:
        """Call any method by name; its reply as it came (no record)."""
        return await (await self._connection()).call(method, params)

    async def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        sent = {key: value for key, value in params.items() if value is not None}
        return decode(result, await (await self._connection()).call(method, sent))

    def _follow(self, method: str, params: dict[str, Any]) -> AsyncStream:
        sent = {key: value for key, value in params.items() if value is not None}
        return AsyncStream(self._open, method, sent)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> AsyncClient:
        await self._connection()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def decode(result: str | None, reply: Any) -> Any:
    """``reply`` as the record ``result`` names (``"AppView"``, ``"list[Event]"``), or as is."""
    if result is None:
        return reply
    from procward import replies, reports

    name = result.removeprefix("list[").removesuffix("]")
    record = getattr(replies, name, None) or getattr(reports, name)
    if result.startswith("list["):
        return replies.list_from(record, reply)
    return record.from_dict(reply)


def _local_opener(
    paths: InstancePaths, spawn_argv: list[str] | None, wait: float
) -> Callable[[], _Connection]:
    from procward.kit._client import connect

    return lambda: connect(paths, spawn_argv=spawn_argv, wait=wait, start_timeout=START_TIMEOUT)


def _remote_opener(name: str) -> Callable[[], _Connection]:
    from procward.remotes import require

    target = require(name)
    tls = _tls(target.ca_file, target.client_cert, target.client_key)
    token = target.token()
    return lambda: _Connection.open_tcp(target.address, token, tls=tls)


def _async_local_opener(
    paths: InstancePaths, spawn_argv: list[str] | None, wait: float
) -> Callable[[], Awaitable[_AsyncConnection]]:
    from procward.kit._aclient import connect

    return lambda: connect(paths, spawn_argv=spawn_argv, wait=wait, start_timeout=START_TIMEOUT)


def _async_tcp_opener(
    address: str, token: str | None, tls: ssl.SSLContext | None
) -> Callable[[], Awaitable[_AsyncConnection]]:
    from procward.kit._aclient import AsyncClient as Connection

    return lambda: Connection.open_tcp(address, token, tls=tls)


def _tls(
    ca_file: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext | None:
    if not ca_file and not client_cert:
        return None
    from procward.kit._tls import client_context

    return client_context(ca_file, client_cert, client_key)
