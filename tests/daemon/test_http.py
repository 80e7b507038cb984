"""The daemon over HTTP: JSON-RPC at /rpc, Prometheus at /metrics, /health; bearer tokens."""

from __future__ import annotations

import http.client
import json
import select
import socket
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from .conftest import LoadApps, start_sleeper, wait_state


@pytest.fixture
def http_address(daemon: Client) -> tuple[str, int]:
    address: str = daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"]
    host, port = address.rsplit(":", 1)
    return host, int(port)


def request(
    where: tuple[str, int],
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*where, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers)
    reply = conn.getresponse()
    result = reply.status, dict(reply.getheaders()), reply.read()
    conn.close()
    return result


def token(daemon: Client, role: str) -> str:
    made: str = daemon.call("createToken", role=role, subject=f"http {role}")["token"]
    return made


def rpc(method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def test_rpc_over_http_acts_with_the_tokens_role(
    daemon: Client, load_apps: LoadApps, http_address: tuple[str, int]
) -> None:
    start_sleeper(daemon, load_apps)
    viewer, operator = token(daemon, "viewer"), token(daemon, "operator")
    status, _, body = request(http_address, "POST", "/rpc", rpc("getApp", name="srv"), viewer)
    assert status == 200 and json.loads(body)["result"]["name"] == "srv"
    status, _, body = request(http_address, "POST", "/rpc", rpc("stopApp", name="srv"), viewer)
    assert json.loads(body)["error"]["code"] == -32002  # forbidden, as on the socket
    status, _, body = request(http_address, "POST", "/rpc", rpc("stopApp", name="srv"), operator)
    reply = json.loads(body)
    assert (reply["id"], [app["name"] for app in reply["result"]["apps"]]) == (7, ["srv"])


def test_without_a_token_only_ping(daemon: Client, http_address: tuple[str, int]) -> None:
    status, _, body = request(http_address, "GET", "/ping")
    assert status == 200 and json.loads(body)["result"]["pid"] > 0
    status, headers, _ = request(http_address, "GET", "/metrics")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, _, body = request(http_address, "POST", "/rpc", rpc("status"))
    assert json.loads(body)["error"]["code"] == -32001
    status, _, body = request(http_address, "GET", "/ping", token="not-a-token")
    assert status == 401 and b"invalid token" in body


def test_prometheus_metrics(
    daemon: Client, load_apps: LoadApps, http_address: tuple[str, int]
) -> None:
    start_sleeper(daemon, load_apps)
    status, headers, body = request(http_address, "GET", "/metrics", token=token(daemon, "viewer"))
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    page = body.decode()
    assert 'procward_instance_up{app="srv",instance="0"} 1\n' in page
    assert 'procward_app_healthy{app="srv"} 1\n' in page
    assert "# TYPE procward_instance_restarts_total counter\n" in page
    memory = [line for line in page.splitlines() if line.startswith("procward_instance_memory")]
    assert len(memory) == 1 and int(memory[0].rsplit(" ", 1)[1]) > 0


def test_health_is_503_when_an_app_is_down(
    daemon: Client, load_apps: LoadApps, http_address: tuple[str, int]
) -> None:
    load_apps("""
        [apps.bad]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 0
    """)
    wait_state(daemon, "bad", "crashed")
    status, _, body = request(http_address, "GET", "/health", token=token(daemon, "viewer"))
    assert status == 503 and json.loads(body)["healthy"] is False


@pytest.mark.parametrize(
    "junk",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 15000],
)
def test_junk_gets_400_and_the_daemon_carries_on(
    daemon: Client, http_address: tuple[str, int], junk: bytes
) -> None:
    with socket.create_connection(http_address, timeout=10) as conn:
        conn.sendall(junk)
        reply = conn.recv(4096)
    assert reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    assert "pid" in daemon.call("ping")


def test_unknown_paths_and_methods(daemon: Client, http_address: tuple[str, int]) -> None:
    assert request(http_address, "GET", "/nope")[0] == 404
    assert request(http_address, "DELETE", "/rpc")[0] == 405


def test_keep_alive_serves_several_requests_on_one_connection(
    daemon: Client, http_address: tuple[str, int]
) -> None:
    conn = http.client.HTTPConnection(*http_address, timeout=10)
    for _ in range(3):
        conn.request("GET", "/ping")
        reply = conn.getresponse()
        assert reply.status == 200 and b"pid" in reply.read()
    conn.close()


def test_exec_over_http_returns_the_output_and_refuses_streaming(
    daemon: Client, load_apps: LoadApps, http_address: tuple[str, int]
) -> None:
    load_apps("""
        [apps.srv]
        cmd = ["sleep", "1000"]
        commands = { hello = "echo hello" }
    """)
    operator = token(daemon, "operator")
    _, _, body = request(
        http_address, "POST", "/rpc", rpc("exec", name="srv", command="hello"), operator
    )
    assert json.loads(body)["result"]["stdout"] == "hello\n"
    asked = rpc("exec", name="srv", command="hello", stream=True)
    _, _, body = request(http_address, "POST", "/rpc", asked, operator)
    assert "stream needs the Unix socket or TCP" in json.loads(body)["error"]["message"]


def test_a_head_over_64_kib_is_refused_even_in_one_piece(
    daemon: Client, http_address: tuple[str, int]
) -> None:
    head = b"GET /ping HTTP/1.1\r\nhost: x\r\nx-big: " + b"y" * (100 * 1024) + b"\r\n\r\n"
    with socket.create_connection(http_address, timeout=10) as conn:
        conn.sendall(head)
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert "pid" in daemon.call("ping")


def test_authenticate_over_http_says_to_use_the_header(
    daemon: Client, http_address: tuple[str, int]
) -> None:
    viewer = token(daemon, "viewer")
    _, _, body = request(http_address, "POST", "/rpc", rpc("authenticate", token=viewer))
    error = json.loads(body)["error"]
    assert error["code"] == -32600 and "Authorization: Bearer" in error["message"]


def test_anonymous_http_connections_are_capped_and_the_socket_serves(
    daemon: Client, http_address: tuple[str, int], paths: InstancePaths
) -> None:
    flood: list[socket.socket] = []
    try:
        for _ in range(40):
            flood.append(socket.create_connection(http_address, timeout=10))
        answered = wait_for(
            lambda: len(ready := select.select(flood, [], [], 0.1)[0]) >= 24 and ready,
            what="the refusals",
        )
        assert len(answered) == 40 - 16  # 16 anonymous connections per address
        assert all(conn.recv(4096).startswith(b"HTTP/1.1 503 ") for conn in answered)
        assert "pid" in daemon.call("ping")
    finally:
        for conn in flood:
            conn.close()
    with open(paths.daemon_log) as log:
        assert "anonymous ones from 127.0.0.1 already" in log.read()
