"""The audit trail under attack, and secrets kept from viewers, on a real daemon.

Refusals come from anonymous TCP clients on 127.0.0.1 (the listener is
started with ``setNetwork``); the daemon's memory is read from its
/proc/PID/status (VmHWM, the peak, so a burst that came and went counts).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from procward.kit._client import Client, parse_address
from procward.kit._errors import InvalidParams
from procward.kit._paths import InstancePaths

from .conftest import LoadApps

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def listen(daemon: Client) -> str:
    address: str = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    return address


def token(daemon: Client, role: str) -> str:
    made: str = daemon.call("createToken", role=role, ttl="10m", subject=f"test {role}")["token"]
    return made


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


class Raw:
    """NDJSON frames on a plain TCP socket: whatever a client may send."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_connection(parse_address(address), timeout=60)
        self.reader = self.sock.makefile("rb")

    def send(self, frames: list[bytes]) -> list[dict[str, object]]:
        """Send ``frames`` in one write, read one reply for each."""
        self.sock.sendall(b"".join(frames))
        return [json.loads(self.reader.readline()) for _ in frames]

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def raw(daemon: Client) -> Iterator[Raw]:
    conn = Raw(listen(daemon))
    yield conn
    conn.close()


def frame(n: int, method: str, params: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}).encode()


def test_a_flood_of_big_refusals_holds_little_and_is_counted(
    daemon: Client, raw: Raw, paths: InstancePaths
) -> None:
    # The writer cannot keep up (here: cannot write at all, a directory where
    # each file should be), so whatever the queue holds stays in memory.
    blocked = [Path(paths.log_dir, name) for name in ("audit.jsonl", "audit-refusals.jsonl")]
    for path in blocked:
        path.unlink(missing_ok=True)
        path.mkdir()
    pid = daemon.call("status")["daemon"]["pid"]
    # Frames of 1 MiB need a token: anonymous ones stop at 16 KiB (decision 0026).
    [login] = raw.send([frame(0, "authenticate", {"token": token(daemon, "viewer")}) + b"\n"])
    assert "result" in login
    before = peak_kib(pid)
    big = {"name": "x" * (1024 * 1024 - 100)}
    for n in range(150):
        [reply] = raw.send([frame(n, "stopApp", big) + b"\n"])
        assert reply["error"]["code"] == -32002  # type: ignore[index]
    grew = peak_kib(pid) - before
    # A frame is read, parsed and answered (a few MiB, transient); nothing of it is kept.
    assert grew < 32 * 1024, f"peak RSS grew by {grew} KiB"
    for path in blocked:
        path.rmdir()
    entries = daemon.call("getAudit", name="stopApp")
    assert sum(e.get("count", 1) for e in entries) == 150
    assert len(entries) == 2  # the first as it came, then one with the count of the rest
    first, rest = entries
    assert "count" not in first and rest["count"] == 149 and rest["until"] >= rest["time"]
    assert first["who"] == "test viewer" and first["role"] == "viewer"
    assert len(json.dumps(first["params"])) < 300


def test_an_admin_change_outlives_thirty_thousand_refusals(daemon: Client, raw: Raw) -> None:
    # setNetwork (in the fixture) was the admin's change; then the flood, 500 at a time.
    params = {"name": "y" * 3000}
    address = daemon.call("status")["daemon"]["addresses"]["tcp"]
    for start in range(0, 30_000, 500):
        # A connection per batch: an anonymous one is closed 5 s after it
        # connected (decision 0026), and 30,000 frames may take longer.
        batch = Raw(address)
        frames = [frame(n, "stopApp", params) + b"\n" for n in range(start, start + 500)]
        replies = batch.send(frames)
        batch.close()
        assert all("error" in r for r in replies)
    [change] = daemon.call("getAudit", name="setNetwork")
    assert change["role"] == "admin" and change["outcome"] == "ok"
    refused = daemon.call("getAudit", name="stopApp")
    assert sum(e.get("count", 1) for e in refused) == 30_000


def test_a_viewer_sees_no_secret_values_an_admin_does(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    load_apps(f"""
        [apps.web]
        cmd = ["sleep", "1000"]
        env = {{ AWS_SECRET_ACCESS_KEY = "{SECRET_VALUE}", DATABASE_URL = "postgres://app:hunter2@db/x", GREETING = "hello", KEYBOARD = "us" }}
    """)  # noqa: E501
    address = listen(daemon)
    with Client.open_tcp(address, token(daemon, "viewer")) as viewer:
        env = viewer.call("getEnv", name="web")
        inspected = viewer.call("inspect", name="web", lines=0)
        spec = viewer.call("getApp", name="web")["spec"]
    assert env["AWS_SECRET_ACCESS_KEY"] == "***"
    assert env["DATABASE_URL"] == "postgres://app:***@db/x"
    assert env["PATH"] == daemon.call("getEnv", name="web")["PATH"] and env["PATH"]
    assert (env["GREETING"], env["KEYBOARD"]) == ("hello", "us")
    assert inspected["env"] == env
    assert inspected["env_masked"] == ["AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]
    assert inspected["spec"]["env"]["AWS_SECRET_ACCESS_KEY"] == "***"
    assert spec["env"]["AWS_SECRET_ACCESS_KEY"] == "***"
    seen = json.dumps([env, inspected, spec])
    assert SECRET_VALUE not in seen and "hunter2" not in seen
    with Client.open_tcp(address, token(daemon, "operator")) as operator:
        assert operator.call("getEnv", name="web")["AWS_SECRET_ACCESS_KEY"] == "***"
    with Client.open_tcp(address, token(daemon, "admin")) as admin:
        assert admin.call("getEnv", name="web")["AWS_SECRET_ACCESS_KEY"] == SECRET_VALUE
    assert daemon.call("getEnv", name="web")["AWS_SECRET_ACCESS_KEY"] == SECRET_VALUE  # owner


def test_a_token_given_positionally_is_never_written(
    daemon: Client, raw: Raw, paths: InstancePaths
) -> None:
    good = token(daemon, "viewer")
    [ok] = raw.send([frame(1, "authenticate", [good]) + b"\n"])
    assert "result" in ok
    address = listen(daemon)
    guess = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzcyJ9.c2lnbmF0dXJlLWd1ZXNz"
    wrong = Raw(address)
    try:
        [refused] = wrong.send([frame(2, "authenticate", [guess]) + b"\n"])
        assert refused["error"]["code"] == -32001  # type: ignore[index]
    finally:
        wrong.close()
    entries = daemon.call("getAudit", name="authenticate")
    assert {e["outcome"] for e in entries} == {"ok", "error"}
    assert all(e["params"] == ["***"] for e in entries if e["transport"] == "tcp")
    logs = Path(paths.log_dir)
    written = b"".join(p.read_bytes() for p in logs.glob("audit*.jsonl*"))
    assert b"authenticate" in written
    for secret in (good, guess, *(t.rsplit(".", maxsplit=1)[-1] for t in (good, guess))):
        assert secret.encode() not in written


@pytest.mark.parametrize(
    "params",
    [
        {"since": 10**400},
        {"since": -(10**400)},
        {"since": float("nan")},
        {"since": float("inf")},
        {"since": True},
        {"since": "1e400s"},
        {"limit": 10**400},
        {"limit": -1},
        {"limit": True},
    ],
)
def test_get_audit_refuses_numbers_that_are_not(daemon: Client, params: dict[str, object]) -> None:
    with pytest.raises(InvalidParams):
        daemon.call("getAudit", **params)
    assert "pid" in daemon.call("ping")


def test_getaudit_since_still_works(daemon: Client) -> None:
    listen(daemon)
    assert "setNetwork" in [e["method"] for e in daemon.call("getAudit", since="1h")]
    assert daemon.call("getAudit", since=4_000_000_000) == []
