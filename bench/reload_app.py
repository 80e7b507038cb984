"""The app every Python system reloads under load (``bench.reload_load``): ``200 ok``.

Standard library only, so any interpreter runs it, and as small as an HTTP
server can be: one request per connection (``Connection: close``), answered
in the accepting process, one at a time. Where the listening socket comes
from is the one thing that differs between systems:

- ``--fd N``: inherited, already listening (procward's held socket at fd 3,
  Circus's ``$(circus.sockets.web)``);
- ``--port P``: bound here, with ``SO_REUSEPORT`` so that the instances of
  one program can share the port (supervisord, which holds no socket).

Once listening it sends ``READY=1`` to ``$NOTIFY_SOCKET`` when there is one
(procward's ``ready = { notify = true }``). On SIGTERM or SIGINT it stops
accepting, answers the connection in hand and exits 0: the graceful exit
every system's reload relies on. ``wsgi`` is the same answer for gunicorn.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
from collections.abc import Callable, Iterable
from types import FrameType

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
READ_TIMEOUT = 2.0  # s a client may take to send its request
TICK = 0.1  # s between looks at the stop flag while idle


def listener(args: argparse.Namespace) -> socket.socket:
    if args.fd is not None:
        return socket.socket(fileno=args.fd)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    return sock


def notify_ready() -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1")


def answer(conn: socket.socket) -> None:
    """Read the request head, send ``200 ok``, close; a client that breaks off is its loss."""
    with conn:
        conn.settimeout(READ_TIMEOUT)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            conn.sendall(RESPONSE)
        except OSError:
            return


def serve(sock: socket.socket) -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Other processes accept from the same socket: a connection select() announced
    # may be gone by the time accept() runs, so never block in accept().
    sock.setblocking(False)
    notify_ready()
    while not stopping:
        readable, _, _ = select.select([sock], [], [], TICK)
        if not readable or stopping:
            continue
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            continue
        conn.setblocking(True)
        answer(conn)


def wsgi(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", "2"), ("Connection", "close")])
    return [b"ok"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    where.add_argument("--port", type=int, help="bind 127.0.0.1:PORT (SO_REUSEPORT)")
    serve(listener(parser.parse_args()))


if __name__ == "__main__":
    main()
