"""``procward dashboard``: HTTP on for loopback if off, a short-lived token in the link."""

from __future__ import annotations

import contextlib
import re
import socket
from typing import Any

from procward.kit._client import Client

from .test_site import open_stream, read_until

LINK = re.compile(r"http://(127\.0\.0\.1):(\d+)/#token=([\w.-]+)")


def test_the_link_turns_http_on_and_holds_a_token_of_the_role_asked(
    daemon: Client, cli: Any
) -> None:
    assert daemon.call("getNetwork")["addresses"].get("http") is None
    done = cli("dashboard", "--print-url", "--role", "operator", "--ttl", "5m")
    assert done.code == 0, done.err
    found = LINK.fullmatch(done.out.strip())
    assert found, done.out
    host, port, secret = found.groups()
    assert daemon.call("getNetwork")["addresses"]["http"] == f"{host}:{port}"
    assert "HTTP now listens on" in done.err
    listed = [t for t in daemon.call("listTokens") if t["subject"] == "dashboard"]
    assert [t["role"] for t in listed] == ["operator"]
    assert 299 <= listed[0]["expires"] - listed[0]["issued"] <= 300  # 5m, in whole seconds
    sock = open_stream((host, int(port)), "/events/stream", secret)
    assert b'"role":"operator"' in read_until(sock, b'"you"')
    sock.close()
    again = cli("dashboard", "--print-url")  # HTTP on already: nothing said, the same port
    assert again.code == 0 and again.err == ""
    assert LINK.fullmatch(again.out.strip()).group(2) == port  # type: ignore[union-attr]


def test_only_viewer_or_operator(daemon: Client, cli: Any) -> None:
    done = cli("dashboard", "--print-url", "--role", "admin")
    assert done.code == 2 and "admin" in done.err
    assert daemon.call("getNetwork")["addresses"].get("http") is None


def test_a_taken_port_9800_means_another(daemon: Client, cli: Any) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # taken already: the same case
            squatter.bind(("127.0.0.1", 9800))
        squatter.listen()
        done = cli("dashboard", "--print-url")
    assert done.code == 0, done.err
    found = LINK.fullmatch(done.out.strip())
    assert found and found.group(2) != "9800"
