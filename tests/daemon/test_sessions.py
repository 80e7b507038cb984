"""Sessions end with their token: rotation, revocation, expiry; guessers slowed; odd tokens refused.

Each test runs a real daemon listening on 127.0.0.1 and talks to it over TCP
(raw sockets where the test must see exactly what the daemon sends, and
when) and HTTP, while the owner acts on the Unix socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams, NotFound, Unauthorized
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, start_sleeper

ROTATED = "session ended: the token key was rotated"
EXPIRED = "session ended: the token has expired"


def listen(daemon: Client) -> str:
    address: str = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    return address


def make_token(daemon: Client, role: str, ttl: str = "10m") -> dict[str, Any]:
    made: dict[str, Any] = daemon.call("createToken", role=role, ttl=ttl, subject=f"test {role}")
    return made


class Raw:
    """A TCP connection that shows every frame the daemon sends, with a deadline on each."""

    def __init__(self, address: str, source: str = "127.0.0.1", timeout: float = 10) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout, (source, 0))
        self.buf = b""
        self.next_id = 0

    def send(self, method: str, **params: Any) -> int:
        self.next_id += 1
        frame = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.sock.sendall(json.dumps(frame).encode() + b"\n")
        return self.next_id

    def frame(self) -> dict[str, Any] | None:
        """The next frame; None when the daemon closed the connection."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        found: dict[str, Any] = json.loads(line)
        return found

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        sent = self.send(method, **params)
        while (reply := self.frame()) is not None:
            if reply.get("id") == sent:
                return reply
        raise AssertionError(f"the daemon closed the connection before answering {method}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tcp() -> Iterator[Callable[..., Raw]]:
    """``tcp(address, source="127.0.0.1")``: a raw connection, closed at the end of the test."""
    opened: list[Raw] = []

    def open_raw(address: str, source: str = "127.0.0.1") -> Raw:
        opened.append(Raw(address, source))
        return opened[-1]

    yield open_raw
    for raw in opened:
        raw.close()


def frames_until_closed(raw: Raw) -> list[dict[str, Any]]:
    out = []
    while (frame := raw.frame()) is not None:
        out.append(frame)
    return out


def ended_with(frames: list[dict[str, Any]], why: str) -> bool:
    last = frames[-1] if frames else {}
    return last.get("id", 0) is None and last.get("error", {}).get("message") == why


def test_rotation_ends_sessions_at_once(daemon: Client, load_apps: LoadApps) -> None:
    start_sleeper(daemon, load_apps)
    address = listen(daemon)
    operator = Client.open_tcp(address, make_token(daemon, "operator")["token"])
    admin = Client.open_tcp(address, make_token(daemon, "admin")["token"])
    with operator, admin:
        operator.call("restartApp", name="srv")
        assert daemon.call("rotateTokens") == {"success": True, "sessions_ended": 2}
        with pytest.raises(Unauthorized, match=ROTATED):
            operator.call("restartApp", name="srv")
        with pytest.raises(OSError):
            operator.call("restartApp", name="srv")
        with pytest.raises(Unauthorized, match=ROTATED):  # no new admin token for a leaked one
            admin.call("createToken", role="admin")
    assert daemon.call("listTokens") == []  # none of them can be valid any more


def test_an_admin_rotating_over_tcp_hears_the_answer_then_the_end(
    daemon: Client, tcp: Callable[..., Raw]
) -> None:
    raw = tcp(listen(daemon))
    assert "result" in raw.call("authenticate", token=make_token(daemon, "admin")["token"])
    assert raw.call("rotateTokens")["result"] == {"success": True, "sessions_ended": 1}
    assert ended_with(frames_until_closed(raw), ROTATED)


def follow(raw: Raw, daemon: Client, ttl: str = "10m") -> Raw:
    assert "result" in raw.call("authenticate", token=make_token(daemon, "viewer", ttl)["token"])
    raw.send("followLogs", name="srv")
    first = raw.frame()
    assert first is not None and first["method"] == "following"
    return raw


def test_a_followlogs_stream_ends_at_rotation(
    daemon: Client, load_apps: LoadApps, tcp: Callable[..., Raw]
) -> None:
    start_sleeper(daemon, load_apps)
    raw = follow(tcp(listen(daemon)), daemon)
    daemon.call("rotateTokens")
    assert ended_with(frames_until_closed(raw), ROTATED)
    wait_no_streams(daemon)


def test_a_followlogs_stream_ends_when_its_token_expires(
    daemon: Client, load_apps: LoadApps, tcp: Callable[..., Raw]
) -> None:
    start_sleeper(daemon, load_apps)
    address = listen(daemon)
    started = time.monotonic()
    raw = follow(tcp(address), daemon, ttl="2s")
    frames = frames_until_closed(raw)  # nothing sent: the daemon ends it on its own
    assert ended_with(frames, EXPIRED)
    assert 0.9 < time.monotonic() - started < 5  # exp is whole seconds: 1-2 s from now
    wait_no_streams(daemon)


def wait_no_streams(daemon: Client) -> None:
    """Only the owner's connection is left: the stream and its TCP connection are gone."""
    wait_for(lambda: daemon.call("status")["daemon"]["connections"] == 1, timeout=5)


def test_revoking_a_token_ends_its_sessions_and_outlives_a_restart(
    daemon: Client, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    address = listen(daemon)
    leaked, kept = make_token(daemon, "operator"), make_token(daemon, "viewer")
    with (
        Client.open_tcp(address, leaked["token"]) as thief,
        Client.open_tcp(address, kept["token"]),
    ):
        revoked = cli("token", "revoke", leaked["id"])
        assert revoked.code == 0, revoked.err
        assert revoked.out == f"revoked {leaked['id']}; 1 sessions ended\n"
        with pytest.raises(Unauthorized, match=f"session ended: token {leaked['id']} was revoked"):
            thief.call("status")
    listed = cli("token", "list")
    assert listed.code == 0, listed.err
    rows = {line.split()[0]: line for line in listed.out.splitlines()[1:]}
    assert "revoked" in rows[leaked["id"]] and rows[kept["id"]].endswith("valid")
    assert cli("down").code == 0 and cli("up").code == 0
    with Client.open(paths.socket) as owner:  # port 0 was asked for: another one now
        address = owner.call("status")["daemon"]["addresses"]["tcp"]
    with pytest.raises(Unauthorized, match=f"the token has been revoked \\(id {leaked['id']}\\)"):
        Client.open_tcp(address, leaked["token"])
    with Client.open_tcp(address, kept["token"]) as viewer:
        assert viewer.call("status")["daemon"]["addresses"]["tcp"] == address  # still valid
    saved = os.path.join(paths.state_dir, "tokens.json")
    assert os.stat(saved).st_mode & 0o777 == 0o600
    with open(saved) as f:
        text = f.read()
    assert leaked["token"] not in text and kept["token"] not in text  # ids, never tokens


def test_the_token_list_shows_what_is_known_never_the_token(
    daemon: Client, cli: Callable[..., Result]
) -> None:
    made = make_token(daemon, "viewer")
    (listed,) = daemon.call("listTokens")
    assert listed == {
        "id": made["id"],
        "role": "viewer",
        "subject": "test viewer",
        "issued": pytest.approx(time.time(), abs=5),
        "expires": made["expires"],
        "revoked": None,
    }
    with pytest.raises(NotFound, match="no valid token with id 'nope'"):
        daemon.call("revokeToken", id="nope")
    missing = cli("token", "revoke")
    assert (missing.code, missing.err) == (
        2,
        "procward: token revoke needs the token's id (see procward token list)\n",
    )


def http_status(where: tuple[str, int], token: str, source: str = "127.0.0.1") -> tuple[int, str]:
    conn = http.client.HTTPConnection(*where, timeout=10, source_address=(source, 0))
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status"}).encode()
    conn.request("POST", "/rpc", body=body, headers={"Authorization": f"Bearer {token}"})
    reply = conn.getresponse()
    result = reply.status, reply.read().decode()
    conn.close()
    return result


def http_listen(daemon: Client) -> tuple[str, int]:
    host, port = daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"].rsplit(":", 1)
    return host, int(port)


def test_http_refuses_revoked_and_rotated_tokens(daemon: Client) -> None:
    where = http_listen(daemon)
    first, second = make_token(daemon, "viewer"), make_token(daemon, "viewer")
    assert http_status(where, first["token"])[0] == 200
    daemon.call("revokeToken", id=first["id"])
    assert http_status(where, first["token"]) == (
        401,
        json.dumps({"error": f"the token has been revoked (id {first['id']})"}) + "\n",
    )
    assert http_status(where, second["token"])[0] == 200
    daemon.call("rotateTokens")
    status, body = http_status(where, second["token"])
    assert status == 401 and "Signature verification failed" in body


def test_failed_logins_lock_an_address_out_for_a_while(
    daemon: Client, tcp: Callable[..., Raw]
) -> None:
    address = listen(daemon)
    good = make_token(daemon, "viewer")["token"]
    for _ in range(5):
        guess = tcp(address)
        refused = guess.call("authenticate", token="eyJ.guess.ed")
        assert refused["error"]["message"].startswith("invalid token")
    guesser = tcp(address)
    refused = guesser.call("authenticate", token=good)  # not even looked at
    assert refused["error"]["code"] == -32001
    assert refused["error"]["message"].startswith("too many failed attempts; retry in ")
    assert 0 < refused["error"]["data"]["retry_after"] <= 10
    assert frames_until_closed(guesser) == []  # and hung up on, like any refusal
    other = tcp(address, source="127.0.0.2")  # another address is not punished
    assert other.call("authenticate", token=good)["result"]["role"] == "viewer"
    where = http_listen(daemon)  # HTTP bearer failures count alike, per address
    for _ in range(5):
        assert http_status(where, "eyJ.guess.ed", source="127.0.0.3")[0] == 401
    conn = http.client.HTTPConnection(*where, timeout=10, source_address=("127.0.0.3", 0))
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {good}"})
    reply = conn.getresponse()
    assert reply.status == 429 and "too many failed attempts" in reply.read().decode()
    assert 0 < int(reply.headers["Retry-After"]) <= 10
    conn.close()
    assert http_status(where, good, source="127.0.0.4")[0] == 200


@pytest.mark.parametrize(
    ("token", "code", "why"),
    [
        # Not text at all: refused with the params, as in every method (kit.rpc.unfit_value).
        ("\ud800", -32602, "authenticate: parameter 'token' is not valid Unicode text"),
        # Longer, and the frame is refused before the token is looked at (16 KiB, 0026).
        ("x" * 10_000, -32001, "invalid token: longer than 4096 characters"),
    ],
)
def test_odd_tokens_are_refused_like_wrong_ones(  # noqa: PLR0917 - fixtures and cases
    daemon: Client, paths: InstancePaths, tcp: Callable[..., Raw], token: str, code: int, why: str
) -> None:
    raw = tcp(listen(daemon))
    reply = raw.call("authenticate", token=token)
    assert reply["error"]["code"] == code
    assert reply["error"]["message"].startswith(why)
    if code == -32001:
        assert frames_until_closed(raw) == []
    else:  # still anonymous, and closed at the auth deadline like any idle peer
        assert raw.call("ping")["result"]["pid"] > 0
    with open(paths.daemon_log) as f:
        assert "Traceback" not in f.read()


def test_token_lifetime_is_capped(cli: Callable[..., Result], paths: InstancePaths) -> None:
    assert cli("up", env={"PROCWARD_TOKEN_MAX_TTL": "1h"}).code == 0
    try:
        with Client.open(paths.socket) as owner:
            with pytest.raises(InvalidParams, match="at most 1h, the longest a token may live"):
                owner.call("createToken", role="viewer", ttl="61m")
            assert owner.call("createToken", role="viewer", ttl="1h")["role"] == "viewer"
    finally:
        assert cli("down").code == 0
    assert cli("up").code == 0  # the default: 90 days
    try:
        with Client.open(paths.socket) as owner:
            with pytest.raises(InvalidParams, match="at most 90d"):
                owner.call("createToken", role="admin", ttl="91d")
            owner.call("createToken", role="admin", ttl="90d")
    finally:
        assert cli("down").code == 0


def test_the_audit_names_the_token_a_call_came_with(
    daemon: Client, tcp: Callable[..., Raw], load_apps: LoadApps
) -> None:
    load_apps('[apps.idle]\ncmd = ["sleep", "1000"]\n')
    made = make_token(daemon, "operator")
    session = tcp(listen(daemon))
    assert "result" in session.call("authenticate", token=made["token"])
    assert "result" in session.call("stopApp", name="idle")
    [entry] = daemon.call("getAudit", name="stopApp")
    assert entry["who"] == "test operator"
    assert entry["token"] == made["id"]  # what `procward token revoke` takes
    [own] = daemon.call("getAudit", name="setNetwork")
    assert "token" not in own  # the owner on the socket holds none
