"""The daemon on TCP: off by default, on 127.0.0.1 when on, and never anonymous.

``Network.listen("127.0.0.1:9700")`` opens a TCP listener speaking the same
JSON-RPC as the Unix socket. A connection starts with the anonymous role
(``ping`` only) and gets the role of a token it presents with the built-in
``authenticate`` method, until the token expires; a wrong token closes the
connection. Tokens: ``tokens.TokenKeeper``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

from procward.kit.client import parse_address
from procward.kit.durations import parse_duration
from procward.kit.errors import InvalidParams, Unauthorized
from procward.kit.rpc import CallContext, Role, method
from procward.kit.tokens import TokenKeeper

if TYPE_CHECKING:
    from procward.kit.server import RpcServer

__all__ = ["Network", "NetworkMethods", "parse_address"]

log = logging.getLogger("procward.kit.network")


class Network:
    def __init__(self, server: RpcServer, tokens: TokenKeeper) -> None:
        self.server = server
        self.tokens = tokens
        self.address: str | None = None  # "host:port" while listening
        self._listener: asyncio.Server | None = None

    async def listen(self, address: str) -> str:
        """Listen on ``address`` instead of where it listened before; the bound address."""
        try:
            host, port = parse_address(address)
        except ValueError as exc:
            raise InvalidParams(f"tcp address {exc}") from None
        self.close()
        try:
            listener = await self.server.serve_tcp(host, port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)  # uvloop: no strerror
            raise InvalidParams(f"cannot listen on {address}: {reason}") from None
        # uvloop's servers are not asyncio.Server subclasses; both have .sockets.
        bound_host, bound_port = listener.sockets[0].getsockname()[:2]
        self._listener = listener
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.address = f"{shown}:{bound_port}"
        if host not in ("127.0.0.1", "::1", "localhost"):
            log.warning("listening on %s: reachable from other machines (tokens required)", address)
        log.info("listening on tcp %s", self.address)
        return self.address

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            log.info("no longer listening on tcp %s", self.address)
        self.address = None


class NetworkMethods:
    """The daemon's token methods; mixed into ``Daemon``, which provides ``network``."""

    network: Network

    @method(Role.ANONYMOUS, name="authenticate")
    def authenticate_token(self, ctx: CallContext, token: str) -> dict[str, Any]:
        """Act with the role of ``token`` on this connection, until it expires.

        A wrong token gets ``Unauthorized`` and the connection is closed: a
        guesser must reconnect for every guess.
        """
        try:
            grant = self.network.tokens.verify(token)
        except Unauthorized:
            if ctx.close is not None:
                asyncio.get_running_loop().call_soon(ctx.close)
            raise
        if ctx.set_peer is not None:
            peer = dataclasses.replace(
                ctx.peer, role=grant.role, subject=grant.subject, expires=grant.expires
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
            seconds = parse_duration(ttl, what="ttl")
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
        who = subject or _describe(ctx)
        token = self.network.tokens.issue(chosen, who, seconds)
        grant = self.network.tokens.verify(token)
        return {"token": token, "role": role.lower(), "subject": who, "expires": grant.expires}

    @method(Role.ADMIN)
    def rotateTokens(self, ctx: CallContext) -> dict[str, Any]:
        """A new signing key: every token issued so far is refused from now on."""
        self.network.tokens.rotate()
        return {"success": True}


def _describe(ctx: CallContext) -> str:
    peer = ctx.peer
    if peer.subject:
        return f"issued by {peer.subject}"
    return f"issued by uid {peer.uid}" if peer.uid is not None else "issued by admin"
