"""POSTing a hook's JSON: one HTTP/1.1 request on the daemon's own loop, and its signature.

No HTTP client library: a webhook is one small POST and one status line,
and the daemon has asyncio for the socket and TLS and h11 (decision 0014)
for the framing, so chunked or oddly split answers are read right. A
connection per delivery (``Connection: close``): hooks are rare, and a kept
connection is state that can go stale. TLS verifies the server against the
system's CA store, as ``curl`` does; ``ssl`` and ``h11`` are imported with
the first webhook (decision 0008: a daemon without one never loads OpenSSL).

The signature (decision 0044) is Stripe's and Slack's scheme:
``X-Procward-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``
with the key of the hook's ``secret``, and ``X-Procward-Timestamp`` (Unix
seconds) signed with the body, so a receiver that refuses old timestamps
refuses a replayed request too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

__all__ = ["post", "signature"]

ANSWER_CHUNK = 16 * 1024
_tls: list[ssl.SSLContext] = []  # made once, with the first https hook


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Procward-Signature`` value of ``body`` sent at ``timestamp``."""
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
    reader, writer = await asyncio.open_connection(
        host,
        parts.port or (443 if secure else 80),
        ssl=_context() if secure else None,
        server_hostname=host if secure else None,
    )
    try:
        conn = h11.Connection(h11.CLIENT)
        writer.write(_request(conn, parts, body, headers))
        await writer.drain()
        return await _status(conn, reader)
    except h11.ProtocolError as e:
        raise ConnectionError(f"not an HTTP answer: {e}") from None
    finally:
        writer.close()  # not waited for: the timeout around us bounds nothing after it fires


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


async def _status(conn: Any, reader: asyncio.StreamReader) -> int:
    """The status of the answer's head (after any 1xx); its body is not read."""
    import h11

    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(ANSWER_CHUNK))
        elif isinstance(event, h11.Response):
            return int(event.status_code)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("the connection closed without an answer")


def _context() -> ssl.SSLContext:
    if not _tls:
        import ssl

        _tls.append(ssl.create_default_context())
    return _tls[0]
