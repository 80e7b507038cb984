"""POSTing a hook's JSON: one HTTP/1.1 request on the daemon's own loop, and its signature.

No HTTP client library: a webhook is one small POST and one status line,
and the daemon has asyncio for the socket and TLS and h11 (decision 0014)
for the framing, so chunked or oddly split answers are read right. A
connection per delivery (``Connection: close``): hooks are rare, and a kept
connection is state that can go stale. TLS verifies the server against the
system's CA store, as ``curl`` does; ``h11`` is imported with the first
webhook, ``ssl`` with the first https one (``_Tls`` says why it is not
asyncio's TLS).

The signature (decision 0044) is Stripe's and Slack's scheme:
``X-Procward-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``
with the key of the hook's ``secret``, and ``X-Procward-Timestamp`` (Unix
seconds) signed with the body, so a receiver that refuses old timestamps
refuses a replayed request too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

__all__ = ["post", "signature"]

ANSWER_CHUNK = 16 * 1024
_tls: list[ssl.SSLContext] = []  # made once, with the first https hook


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Procward-Signature`` value of ``body`` sent at ``timestamp``.

    ``hmac`` loads OpenSSL's libcrypto (~3.5 MiB, decision 0008): only for a
    hook with a ``secret``, as ``kit._tokens`` does for the first token.
    """
    import hashlib
    import hmac

    mac = hmac.new(key, b"%d." % timestamp + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


async def post(url: str, body: bytes, headers: Sequence[tuple[str, str]], timeout: float) -> int:
    """POST ``body`` (JSON) to ``url``; the answer's status code.

    Raises ``TimeoutError`` past ``timeout`` seconds (connect, send and the
    answer's head together), ``OSError`` (refused, reset, TLS), or
    ``ConnectionError`` for an answer that is not HTTP.
    """
    async with asyncio.timeout(timeout):
        return await _exchange(url, body, headers)


async def _exchange(url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> int:
    from urllib.parse import urlsplit

    import h11

    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    reader, writer = await asyncio.open_connection(host, parts.port or (443 if secure else 80))
    stream = _Tls(reader, writer, host) if secure else _Plain(reader, writer)
    try:
        await stream.begin()
        conn = h11.Connection(h11.CLIENT)
        await stream.send(_request(conn, parts, body, headers))
        return await _status(conn, stream)
    except h11.ProtocolError as e:
        raise ConnectionError(f"not an HTTP answer: {e}") from None
    finally:
        writer.close()  # not waited for: the timeout around us bounds nothing after it fires


class _Plain:
    """The connection as the exchange uses it: bytes out, bytes in (b"" at the end)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def begin(self) -> None:
        pass

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> bytes:
        return await self.reader.read(ANSWER_CHUNK)


class _Tls(_Plain):
    """TLS over the plain connection, by ``ssl.SSLObject`` and two memory buffers.

    Not asyncio's own TLS: a daemon that serves none imports asyncio without
    OpenSSL (``kit._eventloop.keep_openssl_out``, decisions 0008 and 0040),
    so its loops cannot do TLS, while ``import ssl`` still works. This
    works on either loop, and loads OpenSSL at the first https delivery.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        import ssl

        super().__init__(reader, writer)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = _context().wrap_bio(self.incoming, self.outgoing, server_hostname=host)

    async def begin(self) -> None:
        await self._until_done(self.tls.do_handshake)

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent: int = await self._until_done(functools.partial(self.tls.write, view))
            view = view[sent:]

    async def receive(self) -> bytes:
        import ssl

        try:
            data: bytes = await self._until_done(lambda: self.tls.read(ANSWER_CHUNK))
        except ssl.SSLZeroReturnError:  # the server closed TLS cleanly
            return b""
        return data

    async def _until_done(self, step: Callable[[], Any]) -> Any:
        """Run ``step`` until OpenSSL has what it needs from the server; send what it wrote."""
        import ssl

        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self.reader.read(ANSWER_CHUNK)
                if data:
                    self.incoming.write(data)
                else:
                    self.incoming.write_eof()  # the next step raises SSLEOFError, an OSError
                continue
            await self._flush()
            return result

    async def _flush(self) -> None:
        pending = self.outgoing.read()
        if pending:
            await super().send(pending)


def _request(conn: Any, parts: Any, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    import h11

    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [
        ("Host", parts.netloc),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *headers,
    ]
    request = h11.Request(method="POST", target=target, headers=head)
    return bytes(
        conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    )


async def _status(conn: Any, stream: _Plain) -> int:
    """The status of the answer's head (after any 1xx); its body is not read."""
    import h11

    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive())
        elif isinstance(event, h11.Response):
            return int(event.status_code)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("the connection closed without an answer")


def _context() -> ssl.SSLContext:
    if not _tls:
        import ssl

        _tls.append(ssl.create_default_context())
    return _tls[0]
