"""Connection limits per transport and trust level, deadlines and back-pressure.

The pools and the refusal log are pure (``limits.py``) and tested in-process;
the rest runs against the sample daemon over real sockets on 127.0.0.1, with
short deadlines given on its command line.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import time
from collections.abc import Iterator

import pytest

from procward.kit._client import Client
from procward.kit._errors import ShuttingDown
from procward.kit._limits import Admission, Limits, Pool, RefusalLog
from procward.kit.testing import wait_for

from .conftest import Sample
from .test_server import Raw, error_code

PING = b'{"jsonrpc":"2.0","id":"p","method":"ping"}\n'

# -- the pools, in-process ------------------------------------------------------


def test_reserved_unix_slots_are_only_for_the_owner() -> None:
    admission = Admission(Limits(unix=4, unix_reserved=2))
    others = [admission.unix(trusted=False) for _ in range(3)]
    assert [slot is not None for slot in others] == [True, True, False]
    owner = [admission.unix(trusted=True) for _ in range(3)]
    assert [slot is not None for slot in owner] == [True, True, False]


def test_anonymous_caps_in_total_and_per_address() -> None:
    admission = Admission(Limits(anonymous=3, anonymous_per_address=2))
    first, second = admission.anonymous("10.0.0.1"), admission.anonymous("10.0.0.1")
    assert first is not None and second is not None
    assert admission.anonymous("10.0.0.1") is None  # per address
    assert admission.anonymous("10.0.0.2") is not None
    assert admission.anonymous("10.0.0.3") is None  # in total
    admission.release(first)
    admission.release(first)  # once only
    assert admission.counts[Pool.ANONYMOUS] == 2
    assert admission.anonymous("10.0.0.1") is not None


def test_authenticating_moves_a_connection_to_its_own_pool() -> None:
    admission = Admission(Limits(anonymous=1, authenticated=1))
    slot = admission.anonymous("10.0.0.1")
    assert slot is not None and admission.promote(slot)
    assert slot.pool is Pool.AUTHENTICATED and admission.per_address == {}
    other = admission.anonymous("10.0.0.1")  # the anonymous slot is free again
    assert other is not None
    assert not admission.promote(other)  # the authenticated pool is full
    assert other.pool is Pool.ANONYMOUS and other.held
    admission.release(slot)
    assert admission.promote(other)
    assert admission.counts == {Pool.UNIX: 0, Pool.ANONYMOUS: 0, Pool.AUTHENTICATED: 1}


def test_refusals_are_logged_at_most_once_per_interval_with_a_count() -> None:
    now = [100.0]
    refusals = RefusalLog(interval=5.0, clock=lambda: now[0])
    assert refusals.note("anonymous") == 1  # the first at once
    assert [refusals.note("anonymous") for _ in range(3)] == [0, 0, 0]
    assert refusals.note("unix") == 1  # each kind on its own
    now[0] += 5.0
    assert refusals.note("anonymous") == 4  # the three held back, and this one


# -- TCP, against a real daemon ------------------------------------------------------


class Line(Raw):
    """``Raw`` on TCP, optionally from another loopback address."""

    def __init__(self, address: str, source: str = "127.0.0.1") -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), 10, (source, 0))
        self.buf = b""

    def closed(self) -> bool:
        """Has the daemon hung up? (Reads what is left until EOF.)"""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True


@pytest.fixture
def lines() -> Iterator[list[Line]]:
    opened: list[Line] = []
    yield opened
    for line in opened:
        line.close()


def started(sample: Sample, *flags: str) -> tuple[Client, dict[str, str]]:
    sample.start(*flags)
    owner = sample.client()
    return owner, owner.call("listening")


def token(owner: Client) -> str:
    made: str = owner.call("createToken", role="viewer", ttl="10m")["token"]
    return made


def test_anonymous_connections_are_closed_at_the_auth_deadline(
    sample: Sample, lines: list[Line]
) -> None:
    owner, where = started(sample, "--tcp", "--auth-timeout", "0.5")
    lines += [Line(where["tcp"]), Line(where["tcp"])]
    anonymous, logged_in = lines
    logged_in.call(
        b'{"jsonrpc":"2.0","id":1,"method":"authenticate","params":["%s"]}\n'
        % (token(owner).encode())
    )
    reply = anonymous.call(PING)
    assert "result" in reply  # it may ping meanwhile
    started_at = time.monotonic()
    anonymous.sock.settimeout(0.1)
    wait_for(anonymous.closed, timeout=5, what="the anonymous connection to be closed")
    assert time.monotonic() - started_at < 2
    assert "result" in logged_in.call(PING)  # authenticated: kept
    assert "did not authenticate within 0.5s" in sample.log()


def test_anonymous_connections_are_capped_per_address_and_in_total(
    sample: Sample, lines: list[Line]
) -> None:
    owner, where = started(sample, "--tcp", "--anonymous", "4", "--per-address", "3")
    address = where["tcp"]
    for _ in range(3):
        lines.append(Line(address))
        assert "result" in lines[-1].call(PING)
    refused = Line(address)
    lines.append(refused)
    reply = refused.recv()
    assert error_code(reply) == ShuttingDown.code
    assert "too many connections" in reply["error"]["message"]  # type: ignore[index]
    lines.append(Line(address, source="127.0.0.2"))  # another address: room
    assert "result" in lines[-1].call(PING)
    lines.append(Line(address, source="127.0.0.3"))  # but the total is reached
    assert error_code(lines[-1].recv()) == ShuttingDown.code
    # A connection that authenticates leaves the anonymous pool.
    auth = b'{"jsonrpc":"2.0","id":1,"method":"authenticate","params":["%s"]}\n'
    assert "result" in lines[0].call(auth % token(owner).encode())
    lines.append(Line(address))
    assert "result" in lines[-1].call(PING)
    assert owner.call("echo", value="owner") == "owner"
    assert "anonymous ones from 127.0.0.1 already" in sample.log()


def test_authenticated_connections_have_their_own_cap(sample: Sample) -> None:
    owner, where = started(sample, "--tcp", "--authenticated", "1")
    viewer = token(owner)
    with Client.open_tcp(where["tcp"], viewer) as first:
        with pytest.raises(ShuttingDown, match="too many authenticated connections"):
            Client.open_tcp(where["tcp"], viewer)
        assert first.call("echo", value=1) == 1


def test_anonymous_frames_are_small_until_a_token_is_shown(
    sample: Sample, lines: list[Line]
) -> None:
    owner, where = started(sample, "--tcp")
    lines.append(Line(where["tcp"]))
    line = lines[0]
    big = b'{"jsonrpc":"2.0","id":2,"method":"echo","params":["%s"]}\n' % (b"x" * 100_000)
    reply = line.call(big)
    assert "exceeds 16384 bytes" in reply["error"]["message"]  # type: ignore[index]
    auth = b'{"jsonrpc":"2.0","id":1,"method":"authenticate","params":["%s"]}\n'
    assert "result" in line.call(auth % token(owner).encode())
    assert line.call(big)["result"] == "x" * 100_000


# -- memory: peers that do not read --------------------------------------------------


def vm_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(ln for ln in status if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def push(sock: socket.socket, chunk: bytes, total: int, patience: float = 1.0) -> int:
    """Send ``chunk`` until ``total`` bytes went or the peer stopped taking any; bytes sent."""
    sock.setblocking(False)
    sent, view = 0, memoryview(chunk)
    deadline = time.monotonic() + 8
    stuck_since = None
    while sent < total and time.monotonic() < deadline:
        try:
            n = sock.send(view[sent % len(chunk) :])
        except BlockingIOError:
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > patience:
                break
            time.sleep(0.01)
            continue
        except ConnectionError:  # dropped: what it sent so far
            break
        stuck_since = None
        sent += n
    return sent


@pytest.mark.parametrize(
    "frame",
    [
        # Unknown methods with 1 MiB names: the error used to quote the name.
        b'{"jsonrpc":"2.0","id":1,"method":"%s"}\n' % (b"m" * ((1 << 20) - 40)),
        # Replies of 512 KiB, never read: the daemon must stop reading the peer.
        b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["%s"]}\n' % (b"e" * (1 << 19)),
    ],
    ids=["unknown-methods", "big-replies"],
)
def test_a_peer_that_never_reads_cannot_grow_the_daemon(sample: Sample, frame: bytes) -> None:
    sample.start()
    owner = sample.client()
    pid = owner.call("ping")["pid"]
    before = vm_rss_mib(pid)
    with socket.socket(socket.AF_UNIX) as flood:
        flood.connect(sample.paths.socket)
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        push(flood, frame, 200 << 20)
        grown = vm_rss_mib(pid) - before
        started_at = time.monotonic()
        assert owner.call("echo", value="still here") == "still here"
        assert time.monotonic() - started_at < 0.5
    assert grown < 64, f"the daemon grew by {grown:.0f} MiB"


def test_pipelined_http_pings_that_are_never_read_are_not_buffered(sample: Sample) -> None:
    owner, where = started(sample, "--http", "--auth-timeout", "30")
    pid = owner.call("ping")["pid"]
    before = vm_rss_mib(pid)
    host, port = where["http"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), 10) as flood:
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        pings = b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n" * 4096
        sent = push(flood, pings, 200 << 20)
        grown = vm_rss_mib(pid) - before
    assert grown < 16, f"the daemon grew by {grown:.0f} MiB after {sent >> 20} MiB of pings"


def test_http_connections_dropped_mid_flood_leave_nothing_behind(sample: Sample) -> None:
    owner, where = started(sample, "--http", "--auth-timeout", "0.3")
    pid = owner.call("ping")["pid"]
    host, port = where["http"].rsplit(":", 1)
    pings = b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n" * 4096
    before = vm_rss_mib(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # each connection ends at the auth deadline
        with socket.create_connection((host, int(port)), 10) as flood:
            flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            push(flood, pings, 200 << 20, patience=2.0)
    grown = vm_rss_mib(pid) - before
    assert grown < 8, f"the daemon grew by {grown:.1f} MiB"


def test_a_peer_leaving_replies_unread_is_dropped_after_the_idle_timeout(
    sample: Sample,
) -> None:
    sample.start("--conn-idle", "0.5")
    with socket.socket(socket.AF_UNIX) as stalled:
        stalled.connect(sample.paths.socket)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        frame = b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["%s"]}\n' % (b"e" * 300_000)
        push(stalled, frame, 3 * len(frame))
        wait_for(lambda: _connections(sample) == 1, timeout=5, what="the stalled peer dropped")
    assert "read no reply for 0.5s" in sample.log()


def _connections(sample: Sample) -> int:
    with Client.open(sample.paths.socket) as client:
        count: int = client.call("connections")
        return count


# -- end of input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b'{"jsonrpc":"2.0","id":5,"method":"echo","params":["last"]}',
        b'{"jsonrpc":"2.0","id":5,"method":"sleep","params":[0.2]}',
    ],
    ids=["sync", "async"],
)
def test_a_last_frame_without_newline_is_answered_before_closing(
    sample: Sample, frame: bytes
) -> None:
    sample.start()
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(sample.paths.socket)
        conn.sendall(PING + frame)
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    replies = [json.loads(line) for line in received.splitlines()]
    assert [r["id"] for r in replies] == ["p", 5]
    assert "result" in replies[1]


def test_a_hang_up_cancels_the_call_in_progress_and_answers_what_follows(
    sample: Sample,
) -> None:
    sample.start()
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(sample.paths.socket)
        conn.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sleep","params":[30]}\n')
        wait_for(lambda: _in_flight(sample) == 1, what="the call to run")
        conn.sendall(b'{"jsonrpc":"2.0","id":2,"method":"echo","params":["after"]}')
        conn.shutdown(socket.SHUT_WR)
        started_at = time.monotonic()
        replies = [json.loads(line) for line in read_all(conn).splitlines()]
    assert time.monotonic() - started_at < 5
    assert replies[0]["id"] == 1 and "sleep was cancelled" in replies[0]["error"]["message"]
    assert replies[1] == {"jsonrpc": "2.0", "id": 2, "result": "after"}


def _in_flight(sample: Sample) -> int:
    with Client.open(sample.paths.socket) as client:
        count: int = client.call("in_flight")
        return count


# -- HTTP ------------------------------------------------------------------------


def http_conn(where: dict[str, str]) -> socket.socket:
    host, port = where["http"].rsplit(":", 1)
    return socket.create_connection((host, int(port)), 10)


def read_all(conn: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_http_slowloris_gets_408_at_the_read_deadline(sample: Sample) -> None:
    _owner, where = started(sample, "--http", "--read-timeout", "0.5", "--auth-timeout", "30")
    with http_conn(where) as conn:
        started_at = time.monotonic()
        head = b"GET /ping HTTP/1.1\r\nhost: x\r\nx-slow: " + b"y" * 100
        for byte in head:  # a byte every 50 ms, until the daemon says something
            if select.select([conn], [], [], 0.05)[0]:
                break
            conn.sendall(bytes([byte]))
        reply = read_all(conn)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started_at < 3


def test_http_idle_connections_are_closed(sample: Sample) -> None:
    owner, where = started(sample, "--http", "--auth-timeout", "0.3", "--conn-idle", "1")
    host, port = where["http"].rsplit(":", 1)
    headers = {"Authorization": f"Bearer {token(owner)}"}  # before the owner's socket idles
    with http_conn(where) as anonymous:
        started_at = time.monotonic()
        assert read_all(anonymous) == b""  # never sent a thing: closed at the auth deadline
        assert time.monotonic() - started_at < 3
    keep_alive = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        keep_alive.request("GET", "/ping", headers=headers)
        assert keep_alive.getresponse().read()
        sock = keep_alive.sock
        assert sock is not None
        time.sleep(0.5)  # past the auth deadline: authenticated, so still open...
        keep_alive.request("GET", "/ping", headers=headers)
        assert keep_alive.getresponse().read()
        started_at = time.monotonic()
        assert read_all(keep_alive.sock) == b""  # ...until idle for 1 s
        assert time.monotonic() - started_at < 3
    finally:
        keep_alive.close()


def test_http_and_tcp_share_the_anonymous_cap(sample: Sample, lines: list[Line]) -> None:
    owner, where = started(sample, "--tcp", "--http", "--per-address", "3")
    lines += [Line(where["tcp"]), Line(where["tcp"])]
    for line in lines:
        assert "result" in line.call(PING)
    with http_conn(where) as third, http_conn(where) as fourth:
        third.sendall(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        assert third.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert read_all(fourth).startswith(b"HTTP/1.1 503 ")
    assert owner.call("echo", value=1) == 1


def test_network_floods_leave_descriptors_for_the_owner(sample: Sample) -> None:
    """With 200 descriptors, 300 anonymous connections must not starve the Unix socket."""
    _owner, where = started(sample, "--tcp", "--http", "--nofile", "200", "--per-address", "60")
    flood: list[socket.socket] = []
    try:
        for i in range(300):
            kind = "tcp" if i % 2 else "http"
            host, port = where[kind].rsplit(":", 1)
            with contextlib.suppress(OSError):
                flood.append(socket.create_connection((host, int(port)), 5))
        with Client.open(sample.paths.socket, timeout=5) as again:
            assert again.call("echo", value="in") == "in"
    finally:
        for conn in flood:
            conn.close()
