"""The JSON-RPC server over a real Unix socket: bad input never hurts it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time

import pytest

from procward.kit._client import Client
from procward.kit._errors import (
    InternalError,
    InvalidParams,
    MethodNotFound,
    RpcError,
    ShuttingDown,
)
from procward.kit.testing import wait_for

from .conftest import Sample


class Raw:
    """A line-level connection for sending exactly the bytes a test wants."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> dict[str, object]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, data: bytes) -> dict[str, object]:
        self.send(data)
        return self.recv()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(sample: Sample):
    sample.start()
    conn = Raw(sample.paths.socket)
    yield conn
    conn.close()


def ping(raw: Raw) -> None:
    reply = raw.call(b'{"jsonrpc":"2.0","id":"p","method":"ping"}\n')
    assert reply["id"] == "p" and "result" in reply


def error_code(reply: dict[str, object]) -> int:
    err = reply["error"]
    assert isinstance(err, dict)
    return int(err["code"])


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"{not json\n", -32700),
        (b"\xff\xfe\n", -32700),
        (b"[1, 2]\n", -32600),
        (b'"just a string"\n', -32600),
        (b'{"id":1,"method":"ping"}\n', -32600),
        (b'{"jsonrpc":"2.0","id":1}\n', -32600),
        (b'{"jsonrpc":"2.0","id":{},"method":"ping"}\n', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":3}\n', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"nope"}\n', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"sleep","params":{"seconds":"x"}}\n', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"sleep","params":{}}\n', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"bogus":1}}\n', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"boom"}\n', -32603),
        (b'{"jsonrpc":"2.0","id":1,"method":"unencodable"}\n', -32603),
    ],
)
def test_bad_requests_get_errors_and_the_connection_survives(
    raw: Raw, frame: bytes, code: int
) -> None:
    assert error_code(raw.call(frame)) == code
    ping(raw)


def test_error_replies_keep_the_request_id(raw: Raw) -> None:
    reply = raw.call(b'{"jsonrpc":"2.0","id":42,"method":"nope"}\n')
    assert reply["id"] == 42
    assert "nope" in reply["error"]["message"]  # type: ignore[index]


def test_an_unknown_methods_name_is_quoted_short(raw: Raw) -> None:
    reply = raw.call(b'{"jsonrpc":"2.0","id":1,"method":"%s"}\n' % (b"n" * 500_000))
    message = reply["error"]["message"]  # type: ignore[index]
    assert len(message) < 200 and message.endswith("(500000 characters)")


def test_oversized_frame_is_refused_and_skipped(raw: Raw) -> None:
    big = b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"value":"' + b"x" * (2 << 20)
    raw.send(big + b'"}}\n{"jsonrpc":"2.0","id":2,"method":"echo","params":{"value":"after"}}\n')
    first = raw.recv()
    assert error_code(first) == -32600 and "exceeds" in first["error"]["message"]  # type: ignore[index]
    assert raw.recv() == {"jsonrpc": "2.0", "id": 2, "result": "after"}


def test_frame_just_under_the_limit_is_served(raw: Raw) -> None:
    head = b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"value":"'
    tail = b'"}}'
    value = b"y" * ((1 << 20) - len(head) - len(tail))
    reply = raw.call(head + value + tail + b"\n")
    assert reply["result"] == value.decode()


def test_notifications_get_no_reply(raw: Raw) -> None:
    raw.send(b'{"jsonrpc":"2.0","method":"echo","params":{"value":1}}\n')
    raw.send(b'{"jsonrpc":"2.0","method":"nope"}\n')
    ping(raw)  # the next line on the wire is ping's reply, nothing before it


def test_pipelined_requests_are_answered_in_order(raw: Raw) -> None:
    frames = [
        b'{"jsonrpc":"2.0","id":1,"method":"sleep","params":{"seconds":0.05}}',
        b'{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}',
        b'{"jsonrpc":"2.0","id":3,"method":"sleep","params":[0.01]}',
        b'{"jsonrpc":"2.0","id":4,"method":"echo","params":{"value":4}}',
    ]
    raw.send(b"\n".join(frames) + b"\n")
    assert [raw.recv()["id"] for _ in frames] == [1, 2, 3, 4]


def test_a_slow_call_does_not_block_other_connections(sample: Sample) -> None:
    sample.start()
    slow = sample.client()
    slow._send("sleep", {"seconds": 2})
    fast = sample.client()
    started = time.monotonic()
    assert fast.call("echo", value="quick") == "quick"
    assert time.monotonic() - started < 1.0


def test_client_raises_the_daemons_error_class(sample: Sample) -> None:
    sample.start()
    client = sample.client()
    with pytest.raises(MethodNotFound):
        client.call("nope")
    with pytest.raises(InvalidParams, match="seconds"):
        client.call("sleep", seconds=[1])
    with pytest.raises(InternalError):
        client.call("boom")
    assert client.call("admin_only") == "ok"  # the owner's uid is admin


def test_stream_of_notifications(sample: Sample) -> None:
    sample.start()
    ticks = list(sample.client().stream("count", n=50))
    assert [params["i"] for _m, params in ticks] == list(range(50))


def test_a_reader_that_stops_reading_does_not_stall_the_daemon(sample: Sample) -> None:
    sample.start()
    stalled = Raw(sample.paths.socket)
    try:
        # 10,000 notifications of 10 KiB: far more than any socket buffer holds.
        stalled.send(
            b'{"jsonrpc":"2.0","id":1,"method":"count","params":{"n":10000,"size":10240}}\n'
        )
        other = sample.client()
        for _ in range(20):
            started = time.monotonic()
            assert other.call("echo", value=1) == 1
            assert time.monotonic() - started < 0.5
        pid = other.call("ping")["pid"]
        with open(f"/proc/{pid}/status") as status:
            rss_kib = int(next(ln for ln in status if ln.startswith("VmRSS:")).split()[1])
        assert rss_kib < 100 * 1024, "the daemon buffered the stalled stream in memory"
    finally:
        stalled.close()


def test_peer_with_another_uid_is_refused(sample: Sample) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another uid")
    sample.start()
    # Open the directory and socket so that uid 65534 can reach the socket: the
    # daemon must still refuse it on its peer credentials alone.
    os.chmod(os.path.dirname(sample.paths.runtime_dir), 0o711)  # the temporary home
    os.chmod(sample.paths.runtime_dir, 0o711)
    os.chmod(sample.paths.socket, 0o666)
    out = _as_uid(65534, sample.paths.socket, b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    reply = json.loads(out.splitlines()[0])
    assert reply["error"]["code"] == -32001
    assert sample.client().call("echo", value="still serving") == "still serving"


def _as_uid(uid: int, path: str, request: bytes) -> str:
    """Connect and send ``request`` from a forked child running as ``uid``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(20)
                sock.connect(path)
                # Refused at once, the send may break: the answer still waits to be read.
                with contextlib.suppress(BrokenPipeError):
                    sock.sendall(request)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                os.write(write_end, reply)
            code = 0
        except BaseException as exc:  # report, do not raise into a copy of pytest
            os.write(write_end, f"child failed: {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        out = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return out


def test_connection_limit(sample: Sample) -> None:
    sample.start("--max-connections", "8")
    conns: list[Raw] = []
    try:
        for _ in range(8):
            conns.append(Raw(sample.paths.socket))
            ping(conns[-1])
        extra = Raw(sample.paths.socket)
        conns.append(extra)
        reply = extra.recv()
        assert error_code(reply) == ShuttingDown.code
        assert "too many connections" in reply["error"]["message"]  # type: ignore[index]
        with pytest.raises(ConnectionError):
            extra.recv()
        ping(conns[0])
    finally:
        for conn in conns:
            conn.close()
    wait_for(lambda: _answers(sample), what="the daemon to serve again")


def _answers(sample: Sample) -> bool:
    try:
        with Client.open(sample.paths.socket) as c:
            return bool(c.call("ping"))
    except (RpcError, OSError):
        return False


def test_idle_connections_are_closed_but_busy_ones_are_not(sample: Sample) -> None:
    sample.start("--conn-idle", "0.3")
    idle = Raw(sample.paths.socket)
    busy = Raw(sample.paths.socket)
    try:
        ping(idle)
        busy.send(b'{"jsonrpc":"2.0","id":7,"method":"sleep","params":{"seconds":1.0}}\n')
        with pytest.raises(ConnectionError):
            idle.recv()  # the daemon hangs up on it: EOF
        assert busy.recv()["result"] == 1.0  # a request in progress is never idle
    finally:
        idle.close()
        busy.close()
