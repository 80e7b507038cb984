"""The asyncio client: the same protocol and errors as ``client.Client``.

For programs that already run an event loop (a TUI, a web backend, another
daemon). Starting a missing daemon blocks on its ready pipe, so ``connect``
does that part in a worker thread and the loop keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any

from procward.kit import _wire as wire
from procward.kit._client import ConnectionClosed, _result, parse_address
from procward.kit._errors import NotRunning
from procward.kit._paths import InstancePaths, check_socket_path

if TYPE_CHECKING:
    import ssl

_NO_DAEMON = (FileNotFoundError, ConnectionRefusedError)


class AsyncClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._lock = asyncio.Lock()  # one call at a time: replies come in order

    @classmethod
    async def open(cls, path: str) -> AsyncClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=wire.MAX_FRAME + 1)
        return cls(reader, writer)

    @classmethod
    async def open_tcp(
        cls, address: str, token: str | None, *, tls: ssl.SSLContext | None = None
    ) -> AsyncClient:
        """A connection to a daemon's TCP listener, authenticated with ``token``.

        ``tls``: a client context (``kit._tls.client_context``), as for the
        synchronous ``Client.open_tcp``.
        """
        host, port = parse_address(address)
        reader, writer = await asyncio.open_connection(
            host,
            port,
            limit=wire.MAX_FRAME + 1,
            ssl=tls,
            server_hostname=host if tls is not None else None,
        )
        client = cls(reader, writer)
        try:
            if token:
                await client.call("authenticate", token=token)
        except BaseException:
            client.abort()
            raise
        return client

    async def call(self, method: str, params: dict[str, Any] | None = None, /, **kw: Any) -> Any:
        async with self._lock:
            req_id = await self._send(method, {**(params or {}), **kw})
            while True:
                msg = await self._receive()
                if msg.get("id") == req_id or "method" not in msg:
                    return _result(msg)

    async def stream(
        self, method: str, params: dict[str, Any] | None = None, /, **kw: Any
    ) -> AsyncGenerator[tuple[str, Any], None]:
        async with self._lock:
            req_id = await self._send(method, {**(params or {}), **kw})
            while True:
                msg = await self._receive()
                if "method" in msg and "id" not in msg:
                    yield msg["method"], msg.get("params")
                elif msg.get("id") == req_id:
                    _result(msg)
                    return

    async def _send(self, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        self._writer.write(wire.encode_request(method, params, self._next_id))
        await self._writer.drain()
        return self._next_id

    async def _receive(self) -> dict[str, Any]:
        line = await self._reader.readline()
        if not line:
            raise ConnectionClosed("the daemon closed the connection")
        return wire.decode_message(line)

    def abort(self) -> None:
        """Close without waiting (from a finalizer); nothing if the loop is gone."""
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            self._writer.close()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect(
    paths: InstancePaths,
    *,
    spawn_argv: Sequence[str] | None = None,
    wait: float = 2.0,
    start_timeout: float = 10.0,
) -> AsyncClient:
    """Like ``client.connect``: start the daemon with ``spawn_argv`` if needed."""
    path = check_socket_path(paths.socket)
    try:
        return await AsyncClient.open(path)
    except _NO_DAEMON:
        if spawn_argv is None:
            raise NotRunning() from None
    from procward.kit._client import _spawn_and_connect

    sync = await asyncio.to_thread(_spawn_and_connect, paths, spawn_argv, wait, start_timeout)
    sync.close()
    return await AsyncClient.open(path)
