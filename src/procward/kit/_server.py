"""The asyncio JSON-RPC server: Unix socket, one protocol object per connection.

Why a ``Protocol`` rather than a stream-reading task per connection: the round
trip of a cheap call (``ping``, ``status``) is dominated by Python overhead,
and the protocol path skips the reader task, its futures and a loop iteration
on every frame. Each connection still behaves like its own task: it handles
its requests in order, a synchronous handler answers inline, and an ``async``
handler runs as a task while later frames of that connection wait their turn
(reading is paused meanwhile). Streams are long-running async handlers
that send notifications through ``CallContext.notify``, which waits while the
peer is not reading, so a slow reader costs one transport buffer, not memory
without bound.

Back-pressure holds for plain replies too: once the transport's buffer passes
its high-water mark (``pause_writing``), the connection handles no further
frame and stops reading the peer until the buffer drains, so a client that
sends requests and never reads costs one transport buffer and one read's
worth of frames. Who may connect, and for how long, is ``limits.py`` (pools
per transport and trust level) enforced by a ``guard.Guard`` per connection.

At the peer's end of input, a call in progress is cancelled (a half-close
cannot be told from a hang-up), the frames that wait are answered, the last
one even without its newline, and the connection closes.

Input never crashes the daemon: every frame gets a JSON-RPC reply or error,
and the connection stays usable after a bad frame.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from procward.kit import _wire as wire
from procward.kit._errors import (
    InternalError,
    InvalidRequest,
    KitError,
    RpcError,
    ShuttingDown,
    Unauthorized,
    UnsafeDirectory,
)
from procward.kit._guard import Guard
from procward.kit._limits import Admission, Limits
from procward.kit._paths import check_socket_path
from procward.kit._rpc import Auditor, CallContext, Method, Peer, Registry, Role
from procward.kit._wire import Oversized, Request

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("procward.kit.server")

Authenticator = Callable[[socket.socket | None], Peer | None]
_PEERCRED = struct.Struct("3i")


def unix_peer(sock: socket.socket | None) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a Unix socket."""
    if sock is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, _gid = _PEERCRED.unpack(raw)
    return pid, uid


def trust_own_uid(sock: socket.socket | None) -> Peer | None:
    """Admin for the daemon's own uid and root; everyone else is refused."""
    creds = unix_peer(sock)
    if creds is None or creds[1] not in (os.geteuid(), 0):
        return None
    return Peer("unix", Role.ADMIN, uid=creds[1], pid=creds[0])


def network_peer(sock: socket.socket | None) -> Peer | None:
    """Anonymous until it presents a token: nothing on the network is trusted."""
    if sock is None:
        return None
    host, port = sock.getpeername()[:2]
    return Peer("tcp", Role.ANONYMOUS, address=f"{host}:{port}")


def tls_options(tls: ssl.SSLContext | None, limits: Limits) -> dict[str, Any]:
    """``create_server``'s TLS arguments: none without a context (asyncio may lack ``ssl``)."""
    if tls is None:
        return {}
    return {"ssl": tls, "ssl_handshake_timeout": limits.auth_timeout}


class BindError(KitError):
    pass


def bind_unix(path: str) -> socket.socket:
    """Bind a listening socket at ``path``, 0600 from birth.

    Call only while holding the instance lock: a leftover socket file is then
    known to be stale, unless something answers on it, which is refused.
    """
    try:
        check_socket_path(path)
    except UnsafeDirectory as exc:
        raise BindError(str(exc)) from None
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _remove_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError(f"cannot bind {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.2)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: a dead daemon's socket
    else:
        raise BindError(f"cannot bind {path}: another process is serving on it")
    finally:
        probe.close()


class RpcServer:
    def __init__(
        self,
        registry: Registry,
        *,
        authenticate: Authenticator = trust_own_uid,
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.auditor: Auditor | None = None  # told of changes, logins and refusals
        self.authenticate = authenticate
        # Shared with the HTTP listener: TCP and HTTP draw from the same pools.
        self.admission = Admission(limits)
        self.connections: set[Connection] = set()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.streams: set[asyncio.Task[None]] = set()  # of them, the endless ones
        self.last_activity = time.monotonic()
        self.closing = False
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def limits(self) -> Limits:
        return self.admission.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        """Other limits, for connections made from now on."""
        self.admission.limits = limits

    async def serve_socket(self, sock: socket.socket) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        server = await loop.create_unix_server(lambda: Connection(self), sock=sock)
        self._track(server)
        return server

    async def serve_tcp(
        self,
        host: str,
        port: int,
        sock: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> asyncio.Server:
        """Listen on TCP: connections start anonymous and may ``authenticate`` with a token.

        Returns the server, so that the caller can close this listener alone
        (and learn the port when it asked for 0). ``sock``: serve on this
        listening socket instead (handed over by an upgrade). ``tls``: a
        server context; a peer must finish its handshake within ``auth_timeout``.
        """
        loop = asyncio.get_running_loop()
        factory = lambda: Connection(self, network_peer, network=True)  # noqa: E731
        secure = tls_options(tls, self.limits)
        if sock is not None:
            server = await loop.create_server(factory, sock=sock, **secure)
        else:
            server = await loop.create_server(factory, host, port, reuse_address=True, **secure)
        self._track(server)
        return server

    def _track(self, server: asyncio.AbstractServer) -> None:
        self._servers.append(server)
        idle = self.limits.idle_timeout
        if idle and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_idle(idle))

    def stop_accepting(self) -> None:
        self.closing = True
        for server in self._servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()

    async def finish_in_flight(self, timeout: float) -> None:
        """Let running requests finish for up to ``timeout`` s, then cancel them.

        Streams (``@method(stream=True)``) would never finish: cancelled first.
        """
        for task in list(self.streams):
            task.cancel()
        if self.in_flight:
            _done, pending = await asyncio.wait(set(self.in_flight), timeout=timeout)
            for task in pending:
                task.cancel()
        for conn in list(self.connections):
            conn.close()

    def end_sessions(self, which: Callable[[Peer], bool], why: RpcError) -> int:
        """End the connections whose peer ``which`` picks (a revoked token's); how many.

        Each ends before the loop reads anything more, but after the reply
        of the call that asked (a token's own ``rotateTokens`` is answered).
        """
        ended = [c for c in self.connections if c.peer is not None and which(c.peer)]
        loop = asyncio.get_running_loop()
        for conn in ended:
            loop.call_soon(conn.end_session, why)
        return len(ended)

    async def _sweep_idle(self, idle: float) -> None:
        while True:
            await asyncio.sleep(idle / 4)
            cutoff = time.monotonic() - idle
            for conn in list(self.connections):
                if conn.busy is None and conn.last_activity < cutoff:
                    conn.close()


class Connection(asyncio.Protocol):
    def __init__(
        self,
        server: RpcServer,
        authenticate: Authenticator | None = None,
        *,
        network: bool = False,
    ) -> None:
        self.server = server
        self.authenticate = authenticate or server.authenticate
        self.network = network  # TCP: anonymous until it authenticates
        self.transport: asyncio.Transport | None = None
        self.guard = Guard(server.admission, self.abort)
        limits = self.guard.limits
        self.decoder = wire.FrameDecoder(limits.anonymous_frame if network else limits.max_frame)
        self.peer: Peer | None = None
        self.ctx: CallContext | None = None
        self.busy: asyncio.Task[None] | None = None
        self.queue: list[bytes | Oversized] = []
        self.last_activity = time.monotonic()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False
        self._expiry: asyncio.TimerHandle | None = None  # ends a token's session on time
        self._eof = False  # the peer half-closed: close once its last frame is answered
        self._reading = True

    # -- asyncio callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast("asyncio.Transport", transport)
        server = self.server
        server.connections.add(self)
        if server.closing:
            return self._refuse(ShuttingDown("the daemon is shutting down"))
        peer = self.authenticate(self.transport.get_extra_info("socket"))
        if peer is None:
            return self._refuse(Unauthorized("this user may not use the daemon's socket"))
        if not self._admit(peer):
            return self._refuse(ShuttingDown("too many connections; try again later"))
        self.set_peer(peer)

    def _admit(self, peer: Peer) -> bool:
        if self.network:
            assert self.transport is not None
            host = (self.transport.get_extra_info("peername") or ("?",))[0]
            return self.guard.admit_network(str(host))
        return self.guard.admit_unix(peer.uid in (os.geteuid(), 0))

    def set_peer(self, peer: Peer) -> None:
        if peer.role > Role.ANONYMOUS and self.guard.anonymous:
            self._authenticated()
        self.peer = peer
        self.ctx = CallContext(peer, self.notify, set_peer=self.set_peer, close=self.close)
        self._end_at_expiry(peer.expires)

    def _end_at_expiry(self, expires: float | None) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if expires is not None:
            why = Unauthorized("session ended: the token has expired")
            delay = max(0.0, expires - time.time())
            self._expiry = asyncio.get_running_loop().call_later(delay, self.end_session, why)

    def end_session(self, why: RpcError) -> None:
        """Say ``why`` (an error without id), cancel what runs (a stream) and close."""
        self._end_at_expiry(None)
        if self._closed:
            return
        self._reply_error(None, why)
        if self.busy is not None:
            self.busy.cancel()
        self.close()

    def _authenticated(self) -> None:
        """A network peer showed a token: an authenticated slot, and full-size frames."""
        if not self.guard.authenticated():
            asyncio.get_running_loop().call_soon(self.close)
            raise ShuttingDown("too many authenticated connections; try again later")
        self.decoder.max_frame = self.guard.limits.max_frame

    def data_received(self, data: bytes) -> None:
        self.server.last_activity = self.last_activity = time.monotonic()
        frames = self.decoder.feed(data)
        if self.queue or self._held():
            self.queue.extend(frames)
            self._continue()
        else:
            self._handle(frames)
            if self.queue:  # a call went async, or replies went unread: the rest waits
                self._continue()

    def eof_received(self) -> bool:
        """The peer sent all it will: answer what waits, then close.

        A half-close cannot be told from a hang-up, so a call in progress is
        cancelled, as a hang-up always did (``exec`` stops its command); the
        frames after it, the last one included even without its newline, are
        answered.
        """
        self._eof = True
        self.queue.extend(self.decoder.finish())
        if self.busy is not None:
            self.busy.cancel()
        else:
            self._continue()
        return True  # keep the transport open to answer: closed by _continue

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._writable.set()
        self.guard.release()
        self.server.connections.discard(self)
        if self.busy is not None:
            self.busy.cancel()
        self._end_at_expiry(None)

    def pause_writing(self) -> None:
        self._writable.clear()
        self.guard.stalled()

    def resume_writing(self) -> None:
        self._writable.set()
        self.guard.flowing()
        # Not inline: the transport may call this from inside a write.
        asyncio.get_running_loop().call_soon(self._continue)

    # -- flow --------------------------------------------------------------

    def _held(self) -> bool:
        """Must frames wait? While a call runs, or while the peer leaves replies unread."""
        return self.busy is not None or not self._writable.is_set()

    def _continue(self) -> None:
        """Handle the frames that wait, as far as the connection is not held.

        Reading stops while frames wait, so what one peer can make the daemon
        hold is bounded by one read plus one frame, whatever it sends.
        """
        while self.queue and not self._held() and not self._closed:
            frames, self.queue = self.queue, []
            self._handle(frames)
        if self._closed or self.transport is None:
            return
        if self.queue:
            if self._reading:
                self._reading = False
                self.transport.pause_reading()
        elif self._eof:
            if not self._held():
                self.close()
        elif not self._reading:
            self._reading = True
            self.transport.resume_reading()

    # -- frames ------------------------------------------------------------

    def _handle(self, frames: list[bytes | Oversized]) -> None:
        for index, frame in enumerate(frames):
            if self._closed:
                return
            if not self._writable.is_set():  # replies go unread: the rest waits
                self.queue = frames[index:] + self.queue
                return
            if isinstance(frame, Oversized):
                limit = self.decoder.max_frame
                self._reply_error(None, InvalidRequest(f"frame exceeds {limit} bytes; dropped"))
                continue
            try:
                req = wire.parse_request(frame)
            except RpcError as err:
                self._reply_error(wire.request_id_of(err), err)
                continue
            if self._dispatch(req):
                self.queue = frames[index + 1 :] + self.queue
                return

    def _dispatch(self, req: Request) -> bool:
        """Run one request; True if it went async and later frames must wait."""
        assert self.ctx is not None
        peer = self.ctx.peer
        if peer.expires is not None and time.time() >= peer.expires:  # before its timer ran
            self.end_session(Unauthorized("session ended: the token has expired"))
            return False
        entry = None
        started = time.time()
        try:
            entry = self.server.registry.lookup(req.method, self.ctx.peer)
            kwargs = entry.bind(req.params)
            if entry.is_async:
                self._start_async(entry, kwargs, req)
                return True
            result = entry.handler(self.ctx, **kwargs)
        except RpcError as err:
            self._audit(entry, req, started, err)
            return self._finish_error(req, err)
        except Exception:
            log.exception("method %s failed", req.method)
            failure = InternalError(f"{req.method} failed unexpectedly")
            self._audit(entry, req, started, failure)
            return self._finish_error(req, failure)
        self._audit(entry, req, started, None)
        if not req.notification:
            self._reply(req.id, result)
        return False

    def _audit(
        self, entry: Method | None, req: Request, started: float, error: RpcError | None
    ) -> None:
        server = self.server
        if server.auditor is None or not server.registry.audited(entry, error):
            return
        assert self.ctx is not None
        seconds = time.time() - started
        try:
            server.auditor(self.ctx.peer, req.method, req.params, started, seconds, error)
        except Exception:  # the audit log must never break a call
            log.exception("auditing %s failed", req.method)

    def _finish_error(self, req: Request, err: RpcError) -> bool:
        if not req.notification:
            self._reply_error(req.id, err)
        return False

    def _start_async(self, entry: Method, kwargs: dict[str, Any], req: Request) -> None:
        task = asyncio.create_task(self._run_async(entry, kwargs, req))
        self.busy = task
        self.server.in_flight.add(task)
        task.add_done_callback(self.server.in_flight.discard)
        if entry.stream:
            self.server.streams.add(task)
            task.add_done_callback(self.server.streams.discard)

    async def _run_async(self, entry: Method, kwargs: dict[str, Any], req: Request) -> None:
        started = time.time()
        try:
            result = await entry.handler(self.ctx, **kwargs)
        except RpcError as err:
            self._audit(entry, req, started, err)
            self._finish_error(req, err)
        except asyncio.CancelledError:
            cancelled = ShuttingDown(f"{req.method} was cancelled")
            self._audit(entry, req, started, cancelled)
            if not self._closed:
                self._finish_error(req, cancelled)
                if self._eof:  # by the peer's hang-up: on with what it sent after
                    asyncio.get_running_loop().call_soon(self._continue)
            raise
        except Exception:
            log.exception("method %s failed", req.method)
            failure = InternalError(f"{req.method} failed unexpectedly")
            self._audit(entry, req, started, failure)
            self._finish_error(req, failure)
        else:
            self._audit(entry, req, started, None)
            if not req.notification:
                self._reply(req.id, result)
        finally:
            self.busy = None
        self._continue()

    # -- writing -----------------------------------------------------------

    def _reply(self, req_id: Any, result: Any) -> None:
        try:
            data = wire.encode_result(req_id, result)
        except (TypeError, ValueError):
            log.exception("result of request %r is not JSON-serialisable", req_id)
            data = wire.encode_error(req_id, InternalError("result could not be encoded"))
        self._write(data)

    def _reply_error(self, req_id: Any, err: RpcError) -> None:
        try:
            data = wire.encode_error(req_id, err)
        except (TypeError, ValueError):
            data = wire.encode_error(req_id, InternalError(err.message))
        self._write(data)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        if not self.guard.has_room(transport.get_write_buffer_size()):
            self.abort()
            return
        transport.write(data)

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification, waiting while the peer is not reading."""
        if not self._writable.is_set():
            await self._writable.wait()
        if self._closed:
            raise ConnectionResetError("the client went away")
        self._write(wire.encode_notification(method, params))

    def _refuse(self, err: RpcError) -> None:
        self._write(wire.encode_error(None, err))
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.close()
        self._closed = True

    def abort(self) -> None:
        """End the connection now, dropping replies it has not read."""
        if self.transport is not None and not self._closed:
            self.transport.abort()
        self._closed = True
