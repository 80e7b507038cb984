"""The daemon on TCP: off by default, on 127.0.0.1 when on, and never anonymous.

``Network.listen("127.0.0.1:9700")`` opens a TCP listener speaking the same
JSON-RPC as the Unix socket. A connection starts with the anonymous role
(``ping`` only) and gets the role of a token it presents with the built-in
``authenticate`` method; a wrong token closes the connection. Tokens:
``tokens.TokenKeeper``.

A session ends when its token does: the connection is told why (an error
frame without id) and closed, its stream cancelled, at the moment the token
expires (a timer of the connection), is revoked (``revokeToken``) or the key
is rotated (``rotateTokens``). Closing rather than falling back to
anonymous: a client that acted with a role and silently lost it would fail
later in a confusing way; a closed connection is unmistakable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from procward.kit._client import parse_address
from procward.kit._durations import parse_duration
from procward.kit._errors import InvalidParams, Unauthorized
from procward.kit._rpc import CallContext, Peer, Role, method
from procward.kit._structs import replace
from procward.kit._tokens import TokenKeeper

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable

    from procward.kit._http import HttpServer
    from procward.kit._server import RpcServer

__all__ = ["Network", "TokenMethods", "parse_address"]

log = logging.getLogger("procward.kit.network")


class Network:
    def __init__(self, server: RpcServer, tokens: TokenKeeper, *, realm: str = "daemon") -> None:
        self.server = server
        self.tokens = tokens
        self.realm = realm  # HTTP's authentication realm: the daemon's name
        self.address: str | None = None  # "host:port" while listening
        self._listener: asyncio.Server | None = None
        self.http_address: str | None = None
        self.http: HttpServer | None = None  # made when HTTP is first turned on
        self._http_listener: asyncio.Server | None = None
        # A server context (``kit._tls``) for both listeners, set before they listen.
        self.tls: ssl.SSLContext | None = None

    async def listen(self, address: str) -> str:
        """Listen on ``address`` instead of where it listened before; the bound address.

        When ``address`` cannot be bound, it listens where it did before.
        """
        host, port = _checked(address, "tcp")
        before = self.address
        self.close()
        try:
            listener = await _bound(address, self.server.serve_tcp(host, port, tls=self.tls))
        except InvalidParams:
            await _back_to(self.listen, before, "tcp")
            raise
        self._listener = listener
        self.address = _announce("tcp", listener, tls=self.tls is not None)
        self._warn_if_cleartext("tcp", address)
        return self.address

    def hand_over(self) -> dict[str, dict[str, Any]]:
        """Copies of the listening sockets, for the next program of an upgrade."""
        out = {}
        for kind, listener, address in (
            ("tcp", self._listener, self.address),
            ("http", self._http_listener, self.http_address),
        ):
            if listener is not None and address is not None:
                out[kind] = {"fd": os.dup(listener.sockets[0].fileno()), "address": address}
        return out

    async def adopt(self, kind: str, fd: int, address: str) -> None:
        """Serve on a listening socket the previous program handed over (``hand_over``)."""
        sock = socket.socket(fileno=fd)
        sock.set_inheritable(False)
        if kind == "tcp":
            self.close()
            self._listener = await self.server.serve_tcp("", 0, sock=sock, tls=self.tls)
            self.address = address
        else:
            self.close_http()
            self._http_listener = await self.http_server().serve("", 0, sock=sock, tls=self.tls)
            self.http_address = address
        log.info("listening on %s %s (handed over)%s", kind, address, " with TLS" * bool(self.tls))
        self._warn_if_cleartext(kind, address)

    def end_sessions(self, which: Callable[[Peer], bool], why: str) -> int:
        """End the sessions (TCP, and HTTP streams) whose peer ``which`` picks; how many.

        A TCP session is told ``why``; an HTTP stream just ends (mid-stream, a
        response has no room for a reason).
        """
        ended = self.server.end_sessions(which, Unauthorized(why))
        return ended + (self.http.end_streams(which) if self.http is not None else 0)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            log.info("no longer listening on tcp %s", self.address)
        self.address = None

    def http_server(self) -> HttpServer:
        """The HTTP routes (made on first use: ``h11`` loads only when HTTP is wanted)."""
        if self.http is None:
            from procward.kit._http import HttpServer

            self.http = HttpServer(
                self.server.registry, self.tokens, self.server.admission, realm=self.realm
            )
        return self.http

    async def listen_http(self, address: str) -> str:
        """Like ``listen``, for HTTP."""
        host, port = _checked(address, "http")
        before = self.http_address
        self.close_http()
        try:
            listener = await _bound(address, self.http_server().serve(host, port, tls=self.tls))
        except InvalidParams:
            await _back_to(self.listen_http, before, "http")
            raise
        self._http_listener = listener
        self.http_address = _announce("http", listener, tls=self.tls is not None)
        self._warn_if_cleartext("http", address)
        return self.http_address

    def close_http(self) -> None:
        if self._http_listener is not None:
            self._http_listener.close()
            self._http_listener = None
            if self.http is not None:
                self.http.close_connections()
            log.info("no longer listening on http %s", self.http_address)
        self.http_address = None

    def cleartext(self) -> list[str]:
        """A warning per listener reachable from other machines without TLS."""
        return [
            cleartext_warning(kind, address)
            for kind, address in (("tcp", self.address), ("http", self.http_address))
            if address is not None and self.tls is None and not is_loopback(address)
        ]

    def _warn_if_cleartext(self, kind: str, address: str) -> None:
        if self.tls is None and not is_loopback(address):
            log.warning("%s", cleartext_warning(kind, address))


def is_loopback(address: str) -> bool:
    """Is ``address`` ("host:port") reachable only from this machine?"""
    host = parse_address(address)[0]
    return host == "localhost" or host.startswith("127.") or host == "::1"


def cleartext_warning(kind: str, address: str) -> str:
    return (
        f"{kind} on {address} is reachable from other machines without TLS: tokens and "
        "replies cross the network in clear (procward network --tls-cert FILE --tls-key FILE)"
    )


def _checked(address: str, what: str) -> tuple[str, int]:
    try:
        return parse_address(address)
    except ValueError as exc:
        raise InvalidParams(f"{what} address {exc}") from None


async def _bound(address: str, listening: Awaitable[asyncio.Server]) -> asyncio.Server:
    """The listener, or ``InvalidParams`` whose data is ``{"address", "reason"}``."""
    try:
        return await listening
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)  # uvloop: no strerror
        raise InvalidParams(
            f"cannot listen on {address}: {reason}", {"address": address, "reason": reason}
        ) from None


async def _back_to(listen: Callable[[str], Awaitable[str]], address: str | None, what: str) -> None:
    """After a failed move: listen where it did before (just freed, so it normally works)."""
    if address is None:
        return
    try:
        await listen(address)
    except InvalidParams as exc:
        log.error("no longer listening on %s: %s", what, exc)


def _announce(what: str, listener: asyncio.Server, *, tls: bool) -> str:
    # uvloop's servers are not asyncio.Server subclasses; both have .sockets.
    bound_host, bound_port = listener.sockets[0].getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    log.info("listening on %s %s:%s%s", what, shown, bound_port, " with TLS" * tls)
    return f"{shown}:{bound_port}"


class TokenMethods:
    """The daemon's token methods: a part ``Daemon`` holds, built on its ``Network``."""

    def __init__(self, network: Network) -> None:
        self.network = network

    @method(Role.ANONYMOUS, name="authenticate")
    def authenticate_token(self, ctx: CallContext, token: str) -> dict[str, Any]:
        """Act with the role of ``token`` on this connection, until it expires.

        A wrong token gets ``Unauthorized`` and the connection is closed: a
        guesser must reconnect for every guess, and after a few failures
        its address is refused for a while without a look at its token.
        """
        try:
            grant = self.network.tokens.verify(token, source=ctx.peer.address)
        except Unauthorized:
            if ctx.close is not None:
                asyncio.get_running_loop().call_soon(ctx.close)
            raise
        if ctx.set_peer is not None:
            peer = replace(
                ctx.peer,
                role=grant.role,
                subject=grant.subject,
                expires=grant.expires,
                token_id=grant.token_id,
            )
            ctx.set_peer(peer)
        return {"role": grant.role.name.lower(), "subject": grant.subject, "expires": grant.expires}

    @method(Role.ADMIN)
    def createToken(
        self, ctx: CallContext, role: str, ttl: str | float = "1h", subject: str | None = None
    ) -> dict[str, Any]:
        """A token for the network: ``role`` viewer, operator or admin, valid ``ttl``."""
        try:
            chosen = Role.parse(role)
        except ValueError:
            raise InvalidParams(f"unknown role {role!r}: use viewer, operator or admin") from None
        try:
            seconds = parse_duration(ttl, what="ttl")
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
        who = subject or _describe(ctx)
        token = self.network.tokens.issue(chosen, who, seconds)
        grant = self.network.tokens.verify(token)
        return {
            "token": token,
            "id": grant.token_id,
            "role": role.lower(),
            "subject": who,
            "expires": grant.expires,
        }

    @method(Role.ADMIN)
    def rotateTokens(self, ctx: CallContext) -> dict[str, Any]:
        """A new signing key: every token issued so far is refused, its sessions ended."""
        self.network.tokens.rotate()
        ended = self.network.end_sessions(
            lambda peer: peer.token_id is not None, "session ended: the token key was rotated"
        )
        return {"success": True, "sessions_ended": ended}

    @method(Role.ADMIN)
    def revokeToken(self, ctx: CallContext, id: str) -> dict[str, Any]:
        """Refuse one token from now on (across restarts) and end its sessions."""
        revoked = self.network.tokens.revoke(id)
        ended = self.network.end_sessions(
            lambda peer: peer.token_id == revoked.id, f"session ended: token {id} was revoked"
        )
        return {**revoked.as_dict(), "sessions_ended": ended}

    @method(Role.ADMIN)
    def listTokens(self, ctx: CallContext) -> list[dict[str, Any]]:
        """The tokens issued and not yet expired (never the tokens themselves), oldest first."""
        return [t.as_dict() for t in self.network.tokens.listing()]


def _describe(ctx: CallContext) -> str:
    peer = ctx.peer
    if peer.subject:
        return f"issued by {peer.subject}"
    return f"issued by uid {peer.uid}" if peer.uid is not None else "issued by admin"
