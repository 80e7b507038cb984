"""The daemon over HTTP/1.1: JSON-RPC at ``POST /rpc``, and routes a daemon adds.

Off by default, like TCP. Every request acts with the role of the bearer
token it carries (``Authorization: Bearer <JWT>``, ``tokens.py``); without
one it is anonymous (``ping``, ``GET /ping``); a bad one is 401. The body
of ``POST /rpc`` is one JSON-RPC request and the reply is its JSON-RPC
response (HTTP 200 even for a JSON-RPC error, as JSON-RPC over HTTP does).
JSON-RPC streams (``followLogs``) need the socket or TCP: HTTP has no
notifications. A page route may answer with a ``Stream`` instead (the
dashboard's Server-Sent Events): its chunks go out as they are made; a peer
``STREAM_UNSENT`` bytes behind, or whose producer overran its own queue
(``SlowReader``), is dropped (and counted), never buffered for. A stream
ends when its token expires or is revoked (``end_streams``, decision 0028),
and a token holds at most ``STREAMS_PER_TOKEN`` of them at once.

HTTP parsing is h11's (sans-IO, the model STYLE.md points to), driven by an
asyncio ``Protocol`` per connection: ~0.6 MiB of daemon memory where
aiohttp's server costs ~17 MiB (decision 0014). Keep-alive, one request at a
time per connection, heads up to 64 KiB (431), bodies up to 1 MiB, and a
connection that sends junk gets a 400 and is closed; the daemon never fails
on input.

HTTP connections draw from the same pools as TCP (``limits.py``, decision
0026): a connection is anonymous until a request carries a valid token, and
an anonymous one is closed ``auth_timeout`` s after it connected. Every
request must arrive whole within ``read_timeout`` s of its first byte (408:
slowloris), a keep-alive connection idle for ``idle_timeout`` s is closed,
and a peer that does not read its replies is not read either (no pipelined
request is parsed while a reply waits), so it cannot make the daemon buffer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import h11

from procward.kit import _wire as wire
from procward.kit._errors import (
    InternalError,
    InvalidRequest,
    MethodNotFound,
    RpcError,
    Unauthorized,
)
from procward.kit._guard import Guard
from procward.kit._limits import Admission
from procward.kit._rpc import Auditor, CallContext, Method, Peer, Registry, Role
from procward.kit._server import tls_options
from procward.kit._structs import Struct, replace
from procward.kit._tokens import TokenKeeper, TooManyAttempts

if TYPE_CHECKING:
    import ssl

__all__ = [
    "STREAMS_PER_TOKEN",
    "STREAM_UNSENT",
    "HttpServer",
    "PageRoute",
    "Reply",
    "Route",
    "SlowReader",
    "Stream",
]

log = logging.getLogger("procward.kit.http")
MAX_BODY = 1 << 20
MAX_HEAD = 64 * 1024  # request line and headers


class Reply(Struct):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # more headers, as (name, value)


class Stream:
    """A reply sent as it is made: ``chunks`` until they end or the peer goes."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        content_type: str = "text/event-stream",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.chunks = chunks
        self.content_type = content_type
        self.headers = headers
        self.peer: Peer | None = None  # who it is for, set when it is answered


class SlowReader(Exception):
    """Raised by a stream's chunks when its reader fell too far behind: drop it."""


# Concurrent streams one token may hold, by its role (decision 0026: more trust, more room).
STREAMS_PER_TOKEN = {Role.VIEWER: 4, Role.OPERATOR: 8, Role.ADMIN: 16}
STREAM_UNSENT = 1 << 20  # bytes of a stream its peer has not read, at which it is dropped

Route = Callable[[Peer, bytes], Awaitable[Reply]]  # (who, request body) -> reply
# (who, request target: path and query) -> a reply or a stream; GET (and HEAD) only
PageRoute = Callable[[Peer, str], Awaitable["Reply | Stream"]]
Authenticated = Callable[[], bool]  # a request carried a token: may the connection keep it?


class HttpServer:
    """Routes ``(method, path)`` to handlers; ``POST /rpc`` and ``GET /ping`` built in."""

    def __init__(
        self,
        registry: Registry,
        tokens: TokenKeeper,
        admission: Admission | None = None,
        *,
        realm: str = "daemon",
    ) -> None:
        self.registry = registry
        self.realm = realm  # of a 401's challenge: the daemon's name (its prefix)
        self.tokens = tokens
        self.admission = admission or Admission()  # the RpcServer's: TCP and HTTP share pools
        self.routes: dict[tuple[str, str], tuple[Role, Route]] = {
            ("POST", "/rpc"): (Role.ANONYMOUS, self._rpc),
            ("GET", "/ping"): (Role.ANONYMOUS, self._ping),
        }
        self.pages: dict[str, tuple[Role, PageRoute]] = {}  # a path, or a prefix ending in /
        self.connections: set[HttpConnection] = set()
        self.streams: dict[HttpConnection, Peer] = {}  # the streams being sent, and to whom
        self.dropped_streams = 0  # streams dropped because their reader fell behind
        self.auditor: Auditor | None = None

    def route(self, method: str, path: str, role: Role, handler: Route) -> None:
        self.routes[(method, path)] = (role, handler)

    def page(self, path: str, role: Role, handler: PageRoute) -> None:
        """``GET path`` (every path under it if it ends in "/") answered by ``handler``."""
        self.pages[path] = (role, handler)

    def end_streams(self, which: Callable[[Peer], bool]) -> int:
        """End the streams whose peer ``which`` picks (a token revoked, rotated); how many."""
        ending = [conn for conn, peer in self.streams.items() if which(peer)]
        for conn in ending:
            conn.close()
        return len(ending)

    async def serve(
        self,
        host: str,
        port: int,
        sock: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        secure = tls_options(tls, self.admission.limits)
        if sock is not None:  # handed over by an upgrade
            return await loop.create_server(lambda: HttpConnection(self), sock=sock, **secure)
        return await loop.create_server(lambda: HttpConnection(self), host, port, **secure)

    def close_connections(self) -> None:
        for conn in list(self.connections):
            conn.close()

    async def respond(
        self,
        request: h11.Request,
        body: bytes,
        address: str,
        authenticated: Authenticated | None = None,
    ) -> Reply | Stream:
        method = request.method.decode("ascii", "replace")
        if method == "HEAD":  # a GET's answer; _send leaves out the body
            method = "GET"
        target = request.target.decode("ascii", "replace")
        path = target.split("?", 1)[0]
        found = self.routes.get((method, path))
        page = self._page(path) if found is None and method == "GET" else None
        chosen = found if found is not None else page
        if chosen is None:
            known = any(p == path for _, p in self.routes) or self._page(path) is not None
            return _error(405 if known else 404, "method not allowed" if known else "not found")
        role = chosen[0]
        try:
            peer = self._peer(request, address)
        except TooManyAttempts as exc:
            wait = str((exc.data or {}).get("retry_after", 1))
            return replace(_error(429, exc.message), headers=(("retry-after", wait),))
        except Unauthorized as exc:
            return _error(401, exc.message)
        if peer.role > Role.ANONYMOUS and authenticated is not None and not authenticated():
            return _error(503, "too many authenticated connections; try again later")
        if peer.role < role:
            status = 401 if peer.role is Role.ANONYMOUS else 403
            return _error(status, f"{method} {path} needs the {role.name.lower()} role")
        if found is not None:
            return await found[1](peer, body)
        assert page is not None
        return self._admitted(await page[1](peer, target), peer)

    def _page(self, path: str) -> tuple[Role, PageRoute] | None:
        """The page route for ``path``: its own, else the longest prefix it is under."""
        if path in self.pages:
            return self.pages[path]
        under = [p for p in self.pages if p.endswith("/") and path.startswith(p)]
        return self.pages[max(under, key=len)] if under else None

    def _admitted(self, reply: Reply | Stream, peer: Peer) -> Reply | Stream:
        """A stream for ``peer`` if its token holds fewer than its share, else 429."""
        if not isinstance(reply, Stream):
            return reply
        cap = STREAMS_PER_TOKEN.get(peer.role, 0)
        held = sum(1 for p in self.streams.values() if p.token_id == peer.token_id)
        if peer.token_id is None or held >= cap:
            self.admission.refused("http-streams", f"refused a stream over {cap} for one token")
            return _error(429, f"this token holds {held} streams already, the most it may")
        reply.peer = peer
        return reply

    def _peer(self, request: h11.Request, address: str) -> Peer:
        anonymous = Peer("http", Role.ANONYMOUS, address=address)
        for name, value in request.headers:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthorized("use Authorization: Bearer <token>")
                grant = self.tokens.verify(token.strip(), source=address)
                return replace(
                    anonymous,
                    role=grant.role,
                    subject=grant.subject,
                    expires=grant.expires,
                    token_id=grant.token_id,
                )
        return anonymous

    async def _ping(self, peer: Peer, body: bytes) -> Reply:
        return await self._call(peer, wire.encode_request("ping", {}, 1))

    async def _rpc(self, peer: Peer, body: bytes) -> Reply:
        return await self._call(peer, body)

    async def _call(self, peer: Peer, frame: bytes) -> Reply:
        """One JSON-RPC request, answered like the socket would (no notifications)."""
        try:
            req = wire.parse_request(frame.strip())
        except RpcError as err:
            return Reply(200, wire.encode_error(wire.request_id_of(err), err))
        if req.method == "authenticate":  # it would change nothing: each request is its own
            return Reply(200, wire.encode_error(req.id, _NO_LOGIN))
        entry = None
        started = time.time()
        try:
            entry = self.registry.lookup(req.method, peer)
            kwargs = entry.bind(req.params)
            result = entry.handler(CallContext(peer, _no_streams, can_stream=False), **kwargs)
            if entry.is_async:
                result = await result
        except RpcError as err:
            self._audit(peer, entry, req, started, err)
            return Reply(200, wire.encode_error(req.id, err))
        except Exception:
            log.exception("HTTP call of %s failed", req.method)
            failure = InternalError(f"{req.method} failed unexpectedly")
            self._audit(peer, entry, req, started, failure)
            return Reply(200, wire.encode_error(req.id, failure))
        self._audit(peer, entry, req, started, None)
        return Reply(200, wire.encode_result(req.id, result))

    def _audit(
        self,
        peer: Peer,
        entry: Method | None,
        req: wire.Request,
        started: float,
        error: RpcError | None,
    ) -> None:
        if self.auditor is None or not self.registry.audited(entry, error):
            return
        try:
            self.auditor(peer, req.method, req.params, started, time.time() - started, error)
        except Exception:
            log.exception("auditing %s failed", req.method)


async def _no_streams(method: str, params: Any) -> None:
    raise MethodNotFound("streams need the Unix socket or TCP: HTTP has no notifications")


_NO_LOGIN = InvalidRequest(
    "authenticate does nothing over HTTP: send the token with every request, "
    "as the header Authorization: Bearer <token>"
)


def _error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}).encode() + b"\n")


_REASONS = {408: b"Request Timeout", 503: b"Service Unavailable"}


def _closing_reply(status: int, message: str) -> bytes:
    """A whole response, written without h11: to a peer whose request never came whole."""
    body = json.dumps({"error": message}).encode() + b"\n"
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n" % (status, _REASONS[status])
    return head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body


def _head_size(request: h11.Request) -> int:
    size = len(request.method) + len(request.target) + 12
    return size + sum(len(name) + len(value) + 4 for name, value in request.headers)


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.busy: asyncio.Task[None] | None = None
        self.guard = Guard(server.admission, self.abort)
        self._writable = True
        self._reading = True
        self.streaming = False  # a Stream is being sent: the peer only listens, or hangs up
        self._read_timer: asyncio.TimerHandle | None = None  # the request must be in by then
        self._idle_timer: asyncio.TimerHandle | None = None  # keep-alive without a request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        peer = self.transport.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if peer else "?"
        if not self.guard.admit_network(str(peer[0]) if peer else "?"):
            self.transport.write(_closing_reply(503, "too many connections; try again later"))
            self.close()
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.guard.release()
        self._cancel_timers()
        self.transport = None
        if self.busy is not None:
            self.busy.cancel()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        if self.streaming:  # a stream's reader has nothing to say: it is not one
            self.close()
            return
        self.h11.receive_data(data)
        self._not_idle()
        if self._read_timer is None and self.busy is None:
            seconds = self.guard.limits.read_timeout
            self._read_timer = asyncio.get_running_loop().call_later(seconds, self._read_expired)
        self._continue()

    def eof_received(self) -> bool:
        if self.streaming:  # the reader hung up: end the stream now, not at the next write
            self.close()
            return False
        self.h11.receive_data(b"")
        self._continue()
        return True  # h11 decides: answer what came whole, then close

    def pause_writing(self) -> None:
        self._writable = False
        self.guard.stalled()

    def resume_writing(self) -> None:
        self._writable = True
        self.guard.flowing()
        # Not inline: the transport may call this from inside a write.
        asyncio.get_running_loop().call_soon(self._continue)

    def _continue(self) -> None:
        """Parse the next request unless one is being answered or replies go unread.

        The peer is read only while h11 needs data for the next request: what
        came meanwhile (pipelined requests) waits in h11's buffer, one read
        at most, so a peer that does not read its replies is not read either.
        While a stream is sent the peer is read too, to hear it hang up.
        """
        if self.busy is None and self._writable:
            self._next_events()
        transport = self.transport
        if transport is None:
            return
        wanted = (self.busy is None or self.streaming) and self._writable
        if wanted and not self._reading:
            self._reading = True
            transport.resume_reading()
        elif not wanted and self._reading:
            self._reading = False
            transport.pause_reading()

    def _next_events(self) -> None:
        while self.transport is not None:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, f"bad request: {exc}")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self.close()
                return
            if isinstance(event, h11.Request):
                self._not_idle()  # a pipelined request, read before
                if _head_size(event) > MAX_HEAD:
                    self._fail(431, f"request head over {MAX_HEAD} bytes")
                    return
                self.request, self.body = event, bytearray()
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY:
                    self._fail(413, f"body over {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage) and self.request is not None:
                if self._read_timer is not None:
                    self._read_timer.cancel()
                    self._read_timer = None
                self.busy = asyncio.ensure_future(self._answer(self.request, bytes(self.body)))
                return

    async def _answer(self, request: h11.Request, body: bytes) -> None:
        try:
            reply = await self.server.respond(request, body, self.address, self.guard.authenticated)
            if isinstance(reply, Stream):
                await self._stream(reply)
            else:
                self._send(reply)
        finally:
            self.busy = None
        if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is h11.MUST_CLOSE:
            self.close()
            return
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            self.close()
            return
        self.request = None
        idle = self.guard.limits.idle_timeout
        if idle and self.transport is not None and self._read_timer is None:
            self._not_idle()  # one timer at most: each holds the connection until it runs
            self._idle_timer = asyncio.get_running_loop().call_later(idle, self._idle_expired)
        self._continue()

    def _send(self, reply: Reply) -> None:
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
        ]
        if reply.status == 401:
            headers.append(("www-authenticate", f'Bearer realm="{self.server.realm}"'))
        headers.extend(reply.headers)
        out = self.h11.send(h11.Response(status_code=reply.status, headers=headers)) or b""
        if self.request is None or self.request.method != b"HEAD":  # HEAD: the head alone
            out += self.h11.send(h11.Data(data=reply.body)) or b""
        out += self.h11.send(h11.EndOfMessage()) or b""
        self._write(out)

    async def _stream(self, stream: Stream) -> None:
        """Send ``stream`` chunk by chunk as it makes them.

        A peer with over ``STREAM_UNSENT`` bytes unread, or whose producer
        overran its own queue (``SlowReader``), is dropped: a stream is live
        data, and a reader that far behind reconnects for a fresh start. The
        stream ends with its token (expiry here, revocation by ``end_streams``).
        """
        assert stream.peer is not None, "a stream is admitted before it is sent"
        headers = [("content-type", stream.content_type), *stream.headers]
        self._write(self.h11.send(h11.Response(status_code=200, headers=headers)) or b"")
        if self.request is not None and self.request.method == b"HEAD":
            self._write(self.h11.send(h11.EndOfMessage()) or b"")
            return
        self.server.streams[self] = stream.peer
        self.streaming = True
        self._continue()  # read again: to hear the reader hang up
        expires = stream.peer.expires
        loop = asyncio.get_running_loop()
        ending = loop.call_at(loop.time() + expires - time.time(), self.close) if expires else None
        try:
            async for chunk in stream.chunks:
                if self._unsent() > STREAM_UNSENT:
                    raise SlowReader
                self._write(self.h11.send(h11.Data(data=chunk)) or b"")
            self._write(self.h11.send(h11.EndOfMessage()) or b"")
        except SlowReader:
            self.server.dropped_streams += 1
            self.server.admission.refused("http-stream", "dropped a stream its reader fell behind")
            self.abort()
        except Exception:  # mid-stream there is no status left to say it with
            log.exception("a stream to %s failed", self.address)
            self.abort()
        finally:
            self.streaming = False
            self.server.streams.pop(self, None)
            if ending is not None:
                ending.cancel()

    def _unsent(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def _write(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self.guard.has_room(self.transport.get_write_buffer_size()):
            self.abort()
            return
        self.transport.write(data)

    def _read_expired(self) -> None:
        self._read_timer = None
        seconds = self.guard.limits.read_timeout
        self.server.admission.refused(
            "http-read", f"closed an HTTP connection whose request took over {seconds:g}s"
        )
        self._write(_closing_reply(408, f"the request did not arrive within {seconds:g}s"))
        self.close()

    def _not_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        self.close()

    def _fail(self, status: int, message: str) -> None:
        try:
            if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                self._send(_error(status, message))
        except h11.LocalProtocolError:
            pass
        self.close()

    def _cancel_timers(self) -> None:
        for timer in (self._read_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._read_timer = self._idle_timer = None

    def close(self) -> None:
        self._cancel_timers()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def abort(self) -> None:
        """End the connection now, dropping replies it has not read."""
        self._cancel_timers()
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
