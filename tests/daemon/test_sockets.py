"""Sockets the daemon holds for an app, seen from the app's side."""

from __future__ import annotations

import json
import socket
import sys

from procward.kit._client import Client

from .conftest import LoadApps, wait_state

# Answers each connection with TCP_NODELAY as the app sees it on the accepted socket.
NODELAY_APP = """\
import socket
from procward.kit._notify import listen_fds
[(_name, server)] = listen_fds()
while True:
    conn, _ = server.accept()
    conn.sendall(str(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)).encode())
    conn.close()
"""


def test_connections_accepted_by_the_app_have_no_nagle_delay(
    daemon: Client, load_apps: LoadApps, port: int
) -> None:
    load_apps(f"""
        [apps.web]
        cmd = {json.dumps([sys.executable, "-c", NODELAY_APP])}
        sockets = {{ http = "127.0.0.1:{port}" }}
        min_start = "0s"
    """)
    wait_state(daemon, "web", "running")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(10) == b"1"
