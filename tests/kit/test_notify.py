"""sd_notify and socket activation against real sockets, without systemd."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from procward.kit._notify import NotifyReceiver, listen_fds, notify, watchdog_interval


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A directory whose socket paths fit in sun_path (tmp_path is often too long)."""
    path = tempfile.mkdtemp(prefix="pwn-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def receiver(short_dir: str) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's notification socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(os.path.join(short_dir, "notify"))
        sock.settimeout(5)
        yield sock


# -- notify ------------------------------------------------------------------------


def test_notify_sends_the_state_as_one_datagram(
    receiver: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.getsockname())
    assert notify("READY=1")
    assert receiver.recv(4096) == b"READY=1"
    assert notify("READY=1\nSTATUS=serving 3 jobs")
    assert receiver.recv(4096) == b"READY=1\nSTATUS=serving 3 jobs"


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"procward-test-{os.getpid()}-{os.urandom(4).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize("value", [None, ""])
def test_notify_without_a_socket_is_a_no_op(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is not None:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify("READY=1") is False


def test_notify_to_a_missing_socket_reports_failure(
    short_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", os.path.join(short_dir, "gone"))
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", f"@procward-test-nobody-{os.urandom(4).hex()}")
    assert notify("READY=1") is False


# -- watchdog_interval -----------------------------------------------------------


def test_no_watchdog_without_watchdog_usec() -> None:
    assert watchdog_interval() is None


@pytest.mark.parametrize(("usec", "interval"), [("2000000", 1.0), ("30000000", 15.0), ("1", 5e-7)])
def test_the_watchdog_interval_is_half_the_timeout(
    usec: str, interval: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    assert watchdog_interval() == pytest.approx(interval)
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == pytest.approx(interval)


def test_a_watchdog_meant_for_another_pid_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getppid()))
    assert watchdog_interval() is None


@pytest.mark.parametrize("usec", ["0", "-5", "soon", "1.5e6"])
def test_a_bad_or_zero_watchdog_usec_means_no_watchdog(
    usec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    assert watchdog_interval() is None


# -- listen_fds ----------------------------------------------------------------------

# listen_fds() takes over fds 3, 4, ...: that must happen in a fresh process, never in
# pytest's, whose low fds belong to someone else. The child moves the inherited sockets
# to fds 3.. (as systemd would), sets LISTEN_PID to itself, and reports what it got.
ACTIVATED = """
import fcntl, json, os, sys
from procward.kit._notify import listen_fds
passed = [int(fd) for fd in sys.argv[1:]]
parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in passed]
for fd in passed:
    os.close(fd)
for offset, fd in enumerate(parked):
    os.dup2(fd, 3 + offset)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
got = listen_fds()
report = {
    "sockets": [
        [name, s.fileno(), s.getsockname(), os.get_inheritable(s.fileno())] for name, s in got
    ],
    "env": sorted(k for k in os.environ if k.startswith("LISTEN_")),
}
for _, s in got:
    s.close()
print(json.dumps(report))
"""


def activate(listeners: list[socket.socket], env: dict[str, str]) -> dict[str, Any]:
    fds = [s.fileno() for s in listeners]
    proc = subprocess.run(
        [sys.executable, "-c", ACTIVATED, *map(str, fds)],
        pass_fds=fds,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.fixture
def listeners(short_dir: str) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for name in ("a.sock", "b.sock"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(os.path.join(short_dir, name))
            sock.listen()
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_listen_fds_takes_an_activated_socket_and_clears_the_variables(
    listeners: list[socket.socket],
) -> None:
    [first, _] = listeners
    report = activate([first], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "procward"})
    assert report == {
        "sockets": [["procward", 3, first.getsockname(), False]],
        "env": [],
    }


def test_listen_fds_takes_several_sockets_and_names_unnamed_ones(
    listeners: list[socket.socket],
) -> None:
    first, second = listeners
    report = activate(listeners, {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "ctl:"})
    assert report["sockets"] == [
        ["ctl", 3, first.getsockname(), False],
        ["unknown", 4, second.getsockname(), False],
    ]
    report = activate(listeners, {"LISTEN_FDS": "2"})
    assert [entry[0] for entry in report["sockets"]] == ["unknown", "unknown"]


def test_listen_fds_ignores_sockets_meant_for_another_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Safe in-process: listen_fds() returns before touching any fd.
    monkeypatch.setenv("LISTEN_PID", str(os.getppid()))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert listen_fds() == []
    assert os.environ["LISTEN_FDS"] == "1"  # left for the process they are meant for


@pytest.mark.parametrize(("pid", "fds"), [(None, None), ("x", "1"), ("self", "one")])
def test_listen_fds_without_valid_variables_is_empty(
    pid: str | None, fds: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pid is not None:
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()) if pid == "self" else pid)
    if fds is not None:
        monkeypatch.setenv("LISTEN_FDS", fds)
    assert listen_fds() == []


async def _received(
    receiver_dir: str, send: list[str], expect: int, *, abstract: bool = False
) -> list[tuple[int, dict[str, str]]]:
    got: list[tuple[int, dict[str, str]]] = []
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def on_message(pid: int, fields: dict[str, str]) -> None:
        got.append((pid, fields))
        if len(got) >= expect and not done.done():
            done.set_result(None)

    path = f"@pwn-test/{os.getpid()}" if abstract else os.path.join(receiver_dir, "notify.sock")
    receiver = NotifyReceiver(path, on_message)
    receiver.attach(loop)
    try:
        if not abstract:
            assert os.stat(path).st_mode & 0o777 == 0o600
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from procward.kit._notify import notify\n"
            "for state in sys.argv[1:]: assert notify(state)",
            *send,
            env={**os.environ, "NOTIFY_SOCKET": path},
        )
        assert await child.wait() == 0
        await asyncio.wait_for(done, 5.0)
        for pid, _ in got:
            assert pid == child.pid  # the kernel's word, not the sender's
    finally:
        receiver.close()
    assert abstract or not os.path.exists(path)
    return got


def test_a_receiver_knows_each_message_by_its_sender(short_dir: str) -> None:
    got = asyncio.run(_received(short_dir, ["READY=1\nSTATUS=warming up", "STATUS=serving"], 2))
    assert [fields for _, fields in got] == [
        {"READY": "1", "STATUS": "warming up"},
        {"STATUS": "serving"},
    ]


def test_a_receiver_skips_junk_lines(short_dir: str) -> None:
    got = asyncio.run(_received(short_dir, ["garbage\n=x\nREADY=1\n\xff"], 1))
    assert got[0][1] == {"READY": "1"}


def test_a_receiver_replaces_a_stale_socket_file(short_dir: str) -> None:
    path = os.path.join(short_dir, "notify.sock")
    with open(path, "w"):
        pass
    NotifyReceiver(path, lambda pid, fields: None).close()
    assert not os.path.exists(path)


def test_a_receiver_in_the_abstract_namespace(short_dir: str) -> None:
    got = asyncio.run(_received(short_dir, ["READY=1"], 1, abstract=True))
    assert got[0][1] == {"READY": "1"}
    assert os.listdir(short_dir) == []  # no file made, none to remove
