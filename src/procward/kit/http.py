"""The daemon over HTTP/1.1: JSON-RPC at ``POST /rpc``, and routes a daemon adds.

Off by default, like TCP. Every request acts with the role of the bearer
token it carries (``Authorization: Bearer <JWT>``, ``tokens.py``); without
one it is anonymous (``ping``, ``GET /ping``); a bad one is 401. The body
of ``POST /rpc`` is one JSON-RPC request and the reply is its JSON-RPC
response (HTTP 200 even for a JSON-RPC error, as JSON-RPC over HTTP does).
Streams (``followLogs``) need the socket or TCP: HTTP has no notifications.

HTTP parsing is h11's (sans-IO, the model STYLE.md points to), driven by an
asyncio ``Protocol`` per connection: ~0.6 MiB of daemon memory where
aiohttp's server costs ~17 MiB (decision 0014). Keep-alive, one request at a
time per connection, bodies up to 1 MiB, and a connection that sends junk
gets a 400 and is closed; the daemon never fails on input.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import h11

from procward.kit import wire
from procward.kit.errors import InternalError, MethodNotFound, RpcError, Unauthorized
from procward.kit.rpc import Auditor, CallContext, Method, Peer, Registry, Role
from procward.kit.structs import Struct, replace
from procward.kit.tokens import TokenKeeper

__all__ = ["HttpServer", "Reply", "Route"]

log = logging.getLogger("procward.kit.http")
MAX_BODY = 1 << 20


class Reply(Struct):
    status: int
    body: bytes
    content_type: str = "application/json"


Route = Callable[[Peer, bytes], Awaitable[Reply]]  # (who, request body) -> reply


class HttpServer:
    """Routes ``(method, path)`` to handlers; ``POST /rpc`` and ``GET /ping`` built in."""

    def __init__(self, registry: Registry, tokens: TokenKeeper) -> None:
        self.registry = registry
        self.tokens = tokens
        self.routes: dict[tuple[str, str], tuple[Role, Route]] = {
            ("POST", "/rpc"): (Role.ANONYMOUS, self._rpc),
            ("GET", "/ping"): (Role.ANONYMOUS, self._ping),
        }
        self.connections: set[HttpConnection] = set()
        self.auditor: Auditor | None = None

    def route(self, method: str, path: str, role: Role, handler: Route) -> None:
        self.routes[(method, path)] = (role, handler)

    async def serve(
        self, host: str, port: int, sock: socket.socket | None = None
    ) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        if sock is not None:  # handed over by an upgrade
            return await loop.create_server(lambda: HttpConnection(self), sock=sock)
        return await loop.create_server(lambda: HttpConnection(self), host, port)

    def close_connections(self) -> None:
        for conn in list(self.connections):
            conn.close()

    async def respond(self, request: h11.Request, body: bytes, address: str) -> Reply:
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        found = self.routes.get((method, path))
        if found is None:
            known = any(p == path for _, p in self.routes)
            return _error(405 if known else 404, "method not allowed" if known else "not found")
        role, handler = found
        try:
            peer = self._peer(request, address)
        except Unauthorized as exc:
            return _error(401, exc.message)
        if peer.role < role:
            status = 401 if peer.role is Role.ANONYMOUS else 403
            return _error(status, f"{method} {path} needs the {role.name.lower()} role")
        return await handler(peer, body)

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


def _error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}).encode() + b"\n")


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.busy: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        peer = self.transport.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.busy is not None:
            self.busy.cancel()

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        if self.busy is None:
            self._next_events()

    def eof_received(self) -> bool | None:
        self.h11.receive_data(b"")
        if self.busy is None:
            self._next_events()
        return None

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
                self.request, self.body = event, bytearray()
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY:
                    self._fail(413, f"body over {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage) and self.request is not None:
                self.busy = asyncio.ensure_future(self._answer(self.request, bytes(self.body)))
                return

    async def _answer(self, request: h11.Request, body: bytes) -> None:
        try:
            reply = await self.server.respond(request, body, self.address)
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
        self._next_events()

    def _send(self, reply: Reply) -> None:
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
        ]
        if reply.status == 401:
            headers.append(("www-authenticate", 'Bearer realm="procward"'))
        out = self.h11.send(h11.Response(status_code=reply.status, headers=headers))
        out = (out or b"") + (self.h11.send(h11.Data(data=reply.body)) or b"")
        out += self.h11.send(h11.EndOfMessage()) or b""
        if self.transport is not None:
            self.transport.write(out)

    def _fail(self, status: int, message: str) -> None:
        try:
            if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                self._send(_error(status, message))
        except h11.LocalProtocolError:
            pass
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
