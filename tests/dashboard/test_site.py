"""The dashboard over plain HTTP: its headers, its refusals, its streams' bounds."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
import time
from typing import Any

import pytest

from procward.dashboard.live import TICK, frame
from procward.dashboard.site import CSP
from procward.kit._client import Client
from procward.kit._http import STREAMS_PER_TOKEN
from procward.kit._paths import InstancePaths
from procward.kit._rpc import Role
from procward.kit.testing import wait_for

from .conftest import token

SAFETY = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def get(where: tuple[str, int], path: str, secret: str | None = None) -> tuple[int, Any, bytes]:
    conn = http.client.HTTPConnection(*where, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {secret}"} if secret else {})
    reply = conn.getresponse()
    result = reply.status, reply.headers, reply.read()
    conn.close()
    return result


def open_stream(where: tuple[str, int], path: str, secret: str, rcvbuf: int = 0) -> socket.socket:
    """A stream's request sent on a raw socket (read it, or not, as the test likes)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(where)
    sock.settimeout(10)
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\r\n"
    sock.sendall(head.encode())
    return sock


def read_until(sock: socket.socket, wanted: bytes, got: bytes = b"") -> bytes:
    deadline = time.monotonic() + 10
    while wanted not in got:
        assert time.monotonic() < deadline, f"no {wanted!r} in {got[-500:]!r}"
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended before {wanted!r}: {got[-500:]!r}"
        got += chunk
    return got


def ended(sock: socket.socket) -> bool:
    """Read what is left; True once the daemon closed (or dropped) the connection."""
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize("path", ["/", "/app/web", "/assets/main.js", "/assets/dashboard.css"])
def test_every_page_is_sent_with_a_strict_policy(http_address: tuple[str, int], path: str) -> None:
    status, headers, body = get(http_address, path)  # no token: the page holds no data
    assert status == 200 and body
    for name, value in SAFETY.items():
        assert headers[name] == value
    assert headers["cache-control"] in ("no-cache", "max-age=300")
    if path.endswith(".js"):
        assert headers["content-type"].startswith("text/javascript")
        assert b"innerHTML" not in body and b"eval(" not in body
    if path in ("/", "/app/web"):
        assert b'<script type="module" src="/assets/main.js">' in body
        assert b"<script>" not in body and b"style=" not in body  # nothing inline


@pytest.mark.parametrize(
    "path", ["/assets/../../pyproject.toml", "/assets/site.py", "/assets/.hidden.js", "/nope"]
)
def test_nothing_else_is_served(http_address: tuple[str, int], path: str) -> None:
    assert get(http_address, path)[0] == 404


def test_no_script_in_the_package_touches_markup() -> None:
    """App text goes in with textContent / text nodes only (decision 0046)."""
    assets = os.path.join(os.path.dirname(frame.__code__.co_filename), "static", "assets")
    for name in os.listdir(assets):
        with open(os.path.join(assets, name)) as f:
            text = f.read()
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert risky not in text, f"{name} uses {risky}"


@pytest.mark.parametrize("path", ["/events/stream", "/logs/stream?app=web"])
def test_the_data_needs_a_token(http_address: tuple[str, int], path: str) -> None:
    status, headers, _ = get(http_address, path)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert get(http_address, path, "not-a-token")[0] == 401


def test_a_stream_starts_with_the_status_and_the_tokens_role(
    daemon: Client, load_apps: Any, http_address: tuple[str, int]
) -> None:
    load_apps('[apps.web]\ncmd = "sleep 600"\n')
    viewer = token(daemon, "viewer")
    sock = open_stream(http_address, "/events/stream", viewer)
    got = read_until(sock, b"\n\n", read_until(sock, b"event: snapshot"))
    head, _, rest = got.partition(b"\r\n\r\n")
    head = head.lower()
    assert b"content-type: text/event-stream" in head and b"transfer-encoding: chunked" in head
    snapshot = json.loads(rest.split(b"data: ", 1)[1].split(b"\n", 1)[0])
    assert snapshot["you"]["role"] == "viewer"  # the page shows a viewer no buttons
    assert [app["name"] for app in snapshot["apps"]] == ["web"]
    daemon.call("stopApp", name="web")  # someone else acts: the viewer sees it live
    got = read_until(sock, b'"to":"stopped"', got)
    assert b"event: event" in got
    sock.close()


# 64 KiB lines, ~30 MB/s: far more than a reader that reads nothing can take.
SPEW = "import sys, time\nwhile True:\n    sys.stdout.write('x' * 65535 + '\\n'); time.sleep(0.002)"
LOUD = f"[apps.loud]\ncmd = {json.dumps(['python3', '-u', '-c', SPEW])}\n"


def test_a_slow_reader_is_dropped_not_buffered(
    daemon: Client, load_apps: Any, http_address: tuple[str, int], paths: InstancePaths
) -> None:
    load_apps(LOUD)
    sock = open_stream(http_address, "/logs/stream?app=loud", token(daemon, "viewer"), 4096)
    read_until(sock, b"event: following")  # then it reads no more

    def dropped() -> bool:
        with open(paths.daemon_log) as f:
            return "dropped a stream its reader fell behind" in f.read()

    wait_for(dropped, 20)
    assert ended(sock)
    sock.close()
    daemon.call("stopApp", name="loud")


def test_a_token_holds_a_bounded_number_of_streams(
    daemon: Client, http_address: tuple[str, int]
) -> None:
    viewer = token(daemon, "viewer")
    held = [
        open_stream(http_address, "/events/stream", viewer)
        for _ in range(STREAMS_PER_TOKEN[Role.VIEWER])
    ]
    for sock in held:
        read_until(sock, b"event: snapshot")
    status, _, body = get(http_address, "/events/stream", viewer)
    assert status == 429 and b"streams already" in body
    held.pop().close()
    wait_for(lambda: get(http_address, "/logs/stream", viewer)[0] == 200, 5)
    for sock in held:
        sock.close()


def test_a_revoked_token_ends_its_stream(daemon: Client, http_address: tuple[str, int]) -> None:
    made = daemon.call("createToken", role="viewer", ttl="10m")
    sock = open_stream(http_address, "/events/stream", made["token"])
    read_until(sock, b"event: snapshot")
    assert daemon.call("revokeToken", id=made["id"])["sessions_ended"] == 1
    assert ended(sock)
    sock.close()


def test_a_reader_that_hangs_up_ends_its_stream_at_once(
    daemon: Client, http_address: tuple[str, int]
) -> None:
    """Not at the next write (up to ``TICK`` s later): its followers leave with it."""
    sock = open_stream(http_address, "/events/stream", token(daemon, "viewer"))
    read_until(sock, b"event: metrics")  # the first frames are out: the next in TICK s
    assert daemon.call("status")["daemon"]["pools"]["authenticated"] == 1
    sock.close()
    wait_for(lambda: daemon.call("status")["daemon"]["pools"]["authenticated"] == 0, TICK / 2)


def sse_frames(data: bytes) -> list[tuple[str, Any]]:
    """The whole frames in ``data`` (a chunked HTTP body: the sizes are dropped)."""
    frames = []
    for block in data.split(b"\n\n"):
        kind = data_line = None
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b"data: "):
                data_line = line[6:]
        if kind and data_line is not None:
            frames.append((kind, json.loads(data_line)))
    return frames


TICKER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print(i, flush=True)\n"
    "    time.sleep(0.0003)\n"
)


def test_a_followed_log_shows_each_line_once_from_its_tail_on(
    daemon: Client, load_apps: Any, http_address: tuple[str, int]
) -> None:
    load_apps(f"[apps.tick]\ncmd = {json.dumps(['python3', '-u', '-c', TICKER])}\n")
    wait_for(lambda: len(daemon.call("getLogs", name="tick", lines=60)[0]["lines"]) >= 50)
    viewer = token(daemon, "viewer")
    for _ in range(5):
        sock = open_stream(http_address, "/logs/stream?app=tick", viewer)
        got = b""
        numbers: list[int] = []
        while len(numbers) < 400:
            got = read_until(sock, b"\n\n", got)
            numbers, partial = [], ""
            for kind, data in sse_frames(got):
                if kind == "tail":
                    for entry in data:
                        lines = [int(line) for line in entry["lines"]]
                        if entry.get("open_line"):
                            partial = str(lines.pop())
                        numbers += lines
                elif kind == "log" and data["stream"] == "out":
                    *whole, partial = (partial + data["data"]).split("\n")
                    numbers += [int(line) for line in whole]
            got += sock.recv(65536)
        sock.close()
        gaps = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
        assert not gaps, f"lines lost or shown twice at {gaps[:5]}"
