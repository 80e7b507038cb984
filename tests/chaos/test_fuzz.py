"""Property-based fuzz of the daemon's transports: whatever arrives, the daemon answers.

Three peers: the owner on the Unix socket (admin, with the harmful calls
constrained, see ``frames``), an anonymous client on TCP and one on HTTP,
both on 127.0.0.1. For every input:

- the daemon lives on (the same pid holds the lock) and still answers a
  ``ping`` on the same connection, or on a new one when it closed this one;
- every reply is a JSON-RPC reply (a result, or an error) and no error is
  -32603 InternalError: bad input is the client's error, never the daemon's;
- every request that carried its id gets a reply with that id;
- HTTP answers with an HTTP response, never a 500;

and at the end no "Traceback" is in the daemon log and the daemon's RSS
stayed under ``RSS_BOUND``. Inputs that got -32603 are collected, not
stopped at, so that one run lists them all.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import seed as hypothesis_seed

from procward.kit._client import Client
from procward.kit._paths import InstancePaths

from ..daemon.conftest import LoadApps, start_sleeper
from .conftest import TALLY, daemon_pid, examples, replayable, seed
from .frames import KNOWN_HOSTILE, Big, frames, http_request

Batch = list[tuple[bytes | Big, bool, int]]

pytestmark = pytest.mark.chaos

RSS_BOUND = 128 << 20
SENTINEL = b'{"jsonrpc": "2.0", "id": "sentinel", "method": "ping"}\n'
INTERNAL = -32603
REPLY_WAIT = 30.0  # s: the slowest admin call here (restartAll) takes well under this


@dataclass
class Findings:
    """What went wrong, by kind; the test fails on any of them after the run."""

    pid: int
    internal: list[str] = field(default_factory=list)  # inputs answered with -32603
    broken: list[str] = field(default_factory=list)  # no reply, a bad reply, a dead daemon
    peak_rss: int = 0

    def report(self, log_path: str) -> str:
        lines = [f"-32603 for: {x}" for x in dict.fromkeys(self.internal)]
        lines += self.broken
        with open(log_path, errors="replace") as f:
            if "Traceback" in f.read():
                lines.append(f"a Traceback in {log_path}")
        if self.peak_rss >= RSS_BOUND:
            lines.append(f"daemon RSS {self.peak_rss >> 20} MiB >= {RSS_BOUND >> 20} MiB")
        return "\n".join(lines)


def fuzz_settings(run_seed: int) -> Callable[[Any], Any]:
    """Many examples, no shrinking (findings are collected), no files written."""

    def apply(test: Any) -> Any:
        test = settings(
            max_examples=examples(),
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(test)
        return hypothesis_seed(run_seed)(test)

    return apply


def known_hostile(test: Any) -> Any:
    """Send the inputs known to have failed, each alone, before the random ones."""
    for data in KNOWN_HOSTILE:
        test = example(batch=[(data, True, 1)])(test)
    return test


def known_hostile_http(test: Any) -> Any:
    for data in KNOWN_HOSTILE:
        head = (
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(data)
        )
        test = example(request=(head, data, "/rpc"))(test)
    return test


def check_alive(paths: InstancePaths, found: Findings, what: str) -> bool:
    pid = daemon_pid(paths)
    found.peak_rss = max(found.peak_rss, TALLY.sample_rss(pid))
    if pid != found.pid:
        TALLY.crashes += 1
        found.broken.append(f"the daemon died (pid {found.pid} -> {pid}) after {what}")
        return False
    return True


def exchange(conn: socket.socket, batch: Batch) -> tuple[list[Any], bool]:
    """Send ``batch`` then a ping; the replies up to the ping's, and whether it came."""
    conn.sendall(b"".join(bytes(data) + b"\n" for data, _, _ in batch) + SENTINEL)
    replies: list[Any] = []
    buf = b""
    deadline = time.monotonic() + REPLY_WAIT
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            return replies, False
        if not chunk:
            return replies, False
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            reply = json.loads(line)
            if isinstance(reply, dict) and reply.get("id") == "sentinel":
                return replies, True
            replies.append(reply)
    return replies, False


def judge(batch: Batch, replies: list[Any], found: Findings, *, whole: bool = True) -> None:
    """Check the replies; ``whole``: the connection lived to the end, so every id is owed."""
    shown = " | ".join(_shown(data) for data, _, _ in batch)
    by_id = {frame_id: data for data, _, frame_id in batch}
    for reply in replies:
        ok = isinstance(reply, dict) and reply.get("jsonrpc") == "2.0"
        ok = ok and (("result" in reply) != ("error" in reply))
        if not ok:
            found.broken.append(f"not a JSON-RPC reply {reply!r} to {shown}")
        elif reply.get("error", {}).get("code") == INTERNAL:
            culprit = by_id.get(reply.get("id"))  # the frame it answers, when it says
            found.internal.append(shown if culprit is None else _shown(culprit))
    answered = {r.get("id") for r in replies if isinstance(r, dict)}
    if not whole:  # closed after a refused login: what came after it is owed nothing
        return
    for _, must, frame_id in batch:
        if must and frame_id not in answered:
            found.broken.append(f"no reply to id {frame_id} of {shown}")


def _shown(data: bytes | Big) -> str:
    return repr(data) if isinstance(data, Big) else repr(data[:300])


def fuzz_stream(paths: InstancePaths, connect: Callable[[], socket.socket], admin: bool) -> None:
    TALLY.ran = True
    run_seed = seed()
    pid = daemon_pid(paths)
    assert pid is not None
    found = Findings(pid)

    @fuzz_settings(run_seed)
    @given(frames(admin=admin))
    @known_hostile
    def one(batch: Batch) -> None:
        if found.broken:
            return  # the first break says it all; the rest of the run would repeat it
        TALLY.inputs += len(batch)
        with connect() as conn:
            replies, pinged = exchange(conn, batch)
        judge(batch, replies, found, whole=pinged)
        if not pinged and not closed_after_a_refused_login(replies):
            shown = " | ".join(_shown(data) for data, _, _ in batch)
            found.broken.append(f"no ping reply after {shown}: {replies!r:.500}")
        check_alive(paths, found, repr(batch)[:300])

    with replayable(run_seed):
        one()
    with Client.open(paths.socket) as client:
        assert client.call("ping")["pid"] == pid
    problems = found.report(paths.daemon_log)
    assert not problems, f"replay with PROCWARD_CHAOS_SEED={run_seed}:\n{problems}"


def closed_after_a_refused_login(replies: list[Any]) -> bool:
    """A failed ``authenticate`` ends the connection: no ping reply is then expected."""
    return bool(replies) and replies[-1].get("error", {}).get("code") == -32001


def test_fuzzed_frames_from_the_owner_on_the_unix_socket(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    start_sleeper(daemon, load_apps)

    def connect() -> socket.socket:
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(REPLY_WAIT)
        conn.connect(paths.socket)
        return conn

    fuzz_stream(paths, connect, admin=True)


def test_fuzzed_frames_from_anonymous_tcp_clients(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    start_sleeper(daemon, load_apps)
    host, port = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"].rsplit(":", 1)

    def connect() -> socket.socket:
        return socket.create_connection((host, int(port)), timeout=REPLY_WAIT)

    fuzz_stream(paths, connect, admin=False)


def test_fuzzed_requests_from_anonymous_http_clients(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    TALLY.ran = True
    start_sleeper(daemon, load_apps)
    host, port = daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"].rsplit(":", 1)
    run_seed = seed()
    pid = daemon_pid(paths)
    assert pid is not None
    found = Findings(pid)

    @fuzz_settings(run_seed)
    @given(http_request())
    @known_hostile_http
    def one(request: tuple[bytes, bytes | Big, str]) -> None:
        if found.broken:
            return
        TALLY.inputs += 1
        head, body, path = request
        raw = head + bytes(body)
        with socket.create_connection((host, int(port)), timeout=REPLY_WAIT) as conn:
            reply = http_exchange(conn, raw)
        judge_http(raw, path, reply, found)
        check_alive(paths, found, repr(raw[:300]))

    with replayable(run_seed):
        one()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        pong = http_exchange(conn, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert pong.startswith(b"HTTP/1.1 200 ")
    problems = found.report(paths.daemon_log)
    assert not problems, f"replay with PROCWARD_CHAOS_SEED={run_seed}:\n{problems}"


def http_exchange(conn: socket.socket, raw: bytes) -> bytes:
    """Send a request and read the answer until the daemon closes the connection."""
    try:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)  # nothing more comes: a short body cannot hang us
    except OSError:  # the daemon answered (400, 413) and closed before the whole request
        pass
    data = b""
    while True:
        try:
            chunk = conn.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            return data
        if not chunk:
            return data
        data += chunk


def judge_http(raw: bytes, path: str, reply: bytes, found: Findings) -> None:
    shown = repr(raw[:300])
    if not reply.startswith(b"HTTP/1.1 "):
        found.broken.append(f"no HTTP response ({reply[:100]!r}) to {shown}")
        return
    status = int(reply[9:12])
    if status >= 500:
        found.broken.append(f"HTTP {status} for {shown}")
    _, _, body = reply.partition(b"\r\n\r\n")
    if status == 200 and path.startswith("/rpc") and body:
        try:
            answer = json.loads(body)
        except ValueError:
            found.broken.append(f"not JSON ({body[:100]!r}) from /rpc for {shown}")
            return
        if isinstance(answer, dict) and answer.get("error", {}).get("code") == INTERNAL:
            found.internal.append(shown)
