"""The synchronous client, and ``connect()`` that starts the daemon when needed.

This is the CLI's path to the daemon, so it imports only the socket module,
``json`` (through ``wire``) and the kit's errors; spawning pulls in the rest
only when there is no daemon to talk to.
"""

from __future__ import annotations

# The C module, not `socket`: `socket` imports `enum` and `selectors`, a sizeable
# part of a `procward ping`.
import _socket
import sys

from procward.kit import _wire as wire
from procward.kit._errors import NotRunning, RpcError, StartFailed, StillStarting
from procward.kit._paths import InstancePaths, check_socket_path

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    import ssl
    from collections.abc import Generator, Sequence
    from typing import Any

    from procward.kit._spawn import Started

_NO_DAEMON = (FileNotFoundError, ConnectionRefusedError)


class ConnectionClosed(ConnectionError):
    pass


class TLSRefused(ConnectionClosed):
    """The daemon's certificate did not verify, or the daemon refused ours."""


def parse_address(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"127.0.0.1:9700"``, ``"[::1]:9700"``, ``"localhost:9700"`` or ``"9700"``."""
    text = text.strip().removeprefix("tcp://")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    elif not host:
        raise ValueError(f"must be 'host:port' or a port number, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"port must be a number from 0 to 65535, in {text!r}")
    return host, int(port)


# A C long's size, as `struct`'s "l": 8 on LP64 (Linux, macOS), 4 on 32-bit systems.
_LONG = 8 if sys.maxsize > 2**32 else 4


def _timeval(seconds: float) -> bytes:
    """``struct timeval`` for ``SO_RCVTIMEO`` and ``SO_SNDTIMEO``, as ``struct.pack("ll")``
    makes it, without ``_struct``: one shared library fewer for a ``procward ping``."""
    whole, micros = int(seconds), int(seconds % 1 * 1e6)
    return whole.to_bytes(_LONG, sys.byteorder) + micros.to_bytes(_LONG, sys.byteorder)


class Client:
    """One connection to a daemon; calls are answered in order."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._next_id = 0
        self._address: str | None = None  # "host:port" of a TCP connection
        self._tls = False
        # What the daemon warned of when ``connect`` had to start it.
        self.start_warnings: list[str] = []

    @classmethod
    def open(cls, path: str, timeout: float | None = 30.0) -> Client:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            if timeout is not None:
                # Kernel timeouts keep the socket blocking: settimeout() would
                # make every send and recv wait in poll() first, doubling the
                # system calls of a round trip.
                tv = _timeval(timeout)
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVTIMEO, tv)
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO, tv)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def open_tcp(
        cls,
        address: str,
        token: str | None,
        timeout: float | None = 30.0,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> Client:
        """A connection to a daemon's TCP listener, authenticated with ``token``.

        ``tls``: a client context (``kit._tls.client_context``); the daemon's
        certificate must then match the host connected to. A failed
        verification or a refused handshake is a ``TLSRefused`` saying why.
        """
        import socket  # only for the network: the Unix path stays on `_socket`

        host, port = parse_address(address)
        sock = socket.create_connection((host, port), timeout)
        try:
            if tls is not None:
                sock = _tls_handshake(tls, sock, host, address)
            client = cls(sock)
            client._address = address
            client._tls = tls is not None
            if token:
                client.call("authenticate", token=token)
        except BaseException:
            sock.close()
            raise
        return client

    def call(self, method: str, params: dict[str, Any] | None = None, /, **kw: Any) -> Any:
        """Call ``method`` and return its result, or raise the daemon's ``RpcError``."""
        req_id = self._send(method, {**params, **kw} if params and kw else params or kw)
        while True:
            msg = self._receive()
            if msg.get("id") == req_id or "method" not in msg:
                return _result(msg)

    def stream(
        self, method: str, params: dict[str, Any] | None = None, /, **kw: Any
    ) -> Generator[tuple[str, Any], None, Any]:
        """Call a streaming method; yield its notifications until it returns.

        The method's result is the generator's return value (``StopIteration.value``).

        A stream may be quiet for hours (``logs -f`` of a quiet app), so it
        waits without the connection's timeout: it ends when the method
        returns or the daemon closes the connection.
        """
        req_id = self._send(method, {**(params or {}), **kw})
        self._sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVTIMEO, _timeval(0))
        if self._sock.gettimeout() is not None:  # a TCP socket: Python's own timeout
            self._sock.settimeout(None)
        while True:
            msg = self._receive()
            if "method" in msg and "id" not in msg:
                yield msg["method"], msg.get("params")
            elif msg.get("id") == req_id:
                return _result(msg)

    def _send(self, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        self._sock.sendall(wire.encode_request(method, params, self._next_id))
        return self._next_id

    def _receive(self) -> dict[str, Any]:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                frame, self._buf = self._buf[:end], self._buf[end + 1 :]
                return wire.decode_message(frame)
            try:
                chunk = self._sock.recv(65536)
            except BlockingIOError:  # SO_RCVTIMEO expired
                raise TimeoutError("the daemon did not answer in time") from None
            except OSError as exc:
                if self._tls and type(exc).__module__ == "ssl":  # mTLS: refused after the handshake
                    raise _tls_refused(exc, self._address) from None
                raise
            if not chunk:
                raise self._closed()
            if not self._buf and chunk.endswith(b"\n") and chunk.count(b"\n") == 1:
                return wire.decode_message(chunk)  # one whole reply: no buffering
            self._buf += chunk

    def _closed(self) -> ConnectionClosed:
        if self._address is None or self._next_id != 1 or self._buf:
            return ConnectionClosed("the daemon closed the connection")
        # The first answer never came: a TLS listener drops a peer that speaks clear
        # text, and one that wants a client certificate drops a peer without one.
        if self._tls:
            return TLSRefused(
                f"the daemon at {self._address} refused the TLS connection: it may ask "
                "for a client certificate (--client-cert and --client-key)"
            )
        return ConnectionClosed(
            f"the daemon at {self._address} closed the connection at once: "
            "does it serve TLS? (give its CA with --ca-file)"
        )

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tls_handshake(
    tls: ssl.SSLContext, sock: _socket.socket, host: str, address: str
) -> ssl.SSLSocket:
    import ssl  # loaded only by commands that asked for TLS

    try:
        return tls.wrap_socket(sock, server_hostname=host)  # type: ignore[arg-type]
    except ssl.SSLCertVerificationError as exc:
        raise TLSRefused(
            f"cannot verify the daemon at {address}: {exc.verify_message} "
            "(give the CA that signed its certificate with --ca-file)"
        ) from None
    except ssl.SSLError as exc:
        raise _tls_refused(exc, address) from None


def _tls_refused(exc: OSError, address: str | None) -> TLSRefused:
    reason = str(getattr(exc, "reason", None) or exc).lower().replace("_", " ")
    hint = ""
    if "certificate" in reason:
        hint = " (it asks for a client certificate: --client-cert and --client-key)"
    return TLSRefused(f"the daemon at {address} refused the TLS connection: {reason}{hint}")


def _result(msg: dict[str, Any]) -> Any:
    if "error" in msg:
        err = msg["error"]
        raise RpcError.from_code(
            int(err.get("code", -32603)), str(err.get("message")), err.get("data")
        )
    return msg.get("result")


def connect(
    paths: InstancePaths,
    *,
    spawn_argv: Sequence[str] | None = None,
    wait: float = 2.0,
    start_timeout: float = 10.0,
) -> Client:
    """Connect to the instance's daemon, starting it with ``spawn_argv`` if needed.

    Without ``spawn_argv`` a missing daemon raises ``NotRunning``. With it,
    racing callers serialise on a spawn lock and exactly one of them starts
    the daemon; the others find it serving when they get the lock. The one
    that started it finds what the daemon warned of in ``start_warnings``.
    """
    sock_path = check_socket_path(paths.socket)
    try:
        return Client.open(sock_path)
    except _NO_DAEMON:
        if spawn_argv is None:
            raise NotRunning() from None
    return _spawn_and_connect(paths, spawn_argv, wait, start_timeout)


def start_daemon(
    paths: InstancePaths, argv: Sequence[str], *, start_timeout: float = 10.0
) -> Started:
    """Start the instance's daemon detached, as ``connect`` does when it finds none.

    Under the spawn lock, so it never races an auto-spawn. A daemon already
    running makes the new one fail with its text, ``already running (pid N)``.
    """
    from procward.kit import _lock as lock

    paths.ensure()
    with lock.hold(paths.spawn_lock, timeout=start_timeout + 2.0):
        return _start(paths, argv, start_timeout)


def _start(paths: InstancePaths, argv: Sequence[str], start_timeout: float) -> Started:
    from procward.kit import _spawn as spawn

    try:
        return spawn.start_detached(argv, log_path=paths.daemon_log, timeout=start_timeout)
    except StillStarting as slow:
        from procward.kit._lock import lock_holder  # who it is: it took the lock first

        raise StillStarting(slow.timeout, slow.log_path, lock_holder(paths.lock)) from None


def _spawn_and_connect(
    paths: InstancePaths, argv: Sequence[str], wait: float, start_timeout: float
) -> Client:
    from procward.kit import _lock as lock
    from procward.kit import _metadata as metadata

    paths.ensure()
    with lock.hold(paths.spawn_lock, timeout=start_timeout + wait):
        try:
            return Client.open(paths.socket)
        except _NO_DAEMON:
            pass
        liveness, meta = metadata.running(paths)
        if liveness is metadata.Liveness.RUNNING:
            # Started by someone who does not use the spawn lock (a service
            # manager, `run` in a terminal): give its socket a moment to appear.
            return wait_for_socket(paths, wait, meta.pid if meta else None)
        if liveness is metadata.Liveness.STALE:
            metadata.cleanup_stale(paths)
        started = _start(paths, argv, start_timeout)
        client = Client.open(paths.socket)
        client.start_warnings = started.warnings
        return client


def wait_for_socket(paths: InstancePaths, wait: float, pid: int | None = None) -> Client:
    import time

    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            return Client.open(paths.socket)
        except _NO_DAEMON:
            if time.monotonic() + delay > deadline:
                who = f"pid {pid}" if pid else "a process"
                raise StartFailed(
                    f"{who} holds {paths.lock} but {paths.socket} did not answer within {wait:g}s"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
