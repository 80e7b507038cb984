"""Abuse as a whole: a flood against the owner, and what the chaos suite found beyond issue 11."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths

from .conftest import daemon_pid, flood, rss_of

pytestmark = pytest.mark.chaos


def test_a_head_request_gets_an_http_response(daemon: Client, paths: InstancePaths) -> None:
    # The answer to a GET without its body. It used to send the body all the
    # same: h11 raised in the connection's task, the client got nothing and the
    # daemon log a Traceback. Found by test_fuzz (HTTP).
    host, port = daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"].rsplit(":", 1)
    reply = b""
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(b"HEAD /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(TimeoutError):  # before: no answer, the connection left open
            while chunk := conn.recv(1 << 16):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
    with open(paths.daemon_log) as log:
        assert "Traceback" not in log.read()


def test_the_owner_gets_in_under_a_flood_of_anonymous_peers(
    daemon: Client, paths: InstancePaths
) -> None:
    # The "done when": 1,000 idle anonymous TCP and 1,000 idle HTTP
    # connections (`make chaos`; 300 of each in the short run, already past
    # today's shared cap of 256) and a client that never reads its replies; the
    # owner's status still answers within 100 ms and the daemon stays under 64 MiB.
    tcp = _address(daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"])
    http = _address(daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"])
    held: list[socket.socket] = []
    try:
        for where in [tcp] * flood() + [http] * flood():
            with contextlib.suppress(OSError):  # refused or reset: the daemon's right
                held.append(socket.create_connection(where, timeout=5))
        hog = socket.create_connection(tcp, timeout=5)
        held.append(hog)
        frame = b'{"jsonrpc": "2.0", "id": 1, "method": "' + b"x" * ((1 << 20) - 64) + b'"}\n'
        with contextlib.suppress(OSError):  # a daemon that stops reading: back-pressure
            hog.setblocking(False)
            for _ in range(64):
                hog.send(frame)
        started = time.monotonic()
        with Client.open(paths.socket, timeout=5) as owner:
            owner.call("status")
        took = time.monotonic() - started
        rss = rss_of(daemon_pid(paths) or 0)
    finally:
        for conn in held:
            conn.close()
    assert took < 0.1, f"the owner's status took {took * 1000:.0f} ms"
    assert rss < 64 << 20, f"daemon RSS {rss >> 20} MiB"


def _address(shown: str) -> tuple[str, int]:
    host, port = shown.rsplit(":", 1)
    return host, int(port)
