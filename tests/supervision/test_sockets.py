"""Held sockets: addresses as written, binding, stale files, and how apps are handed them."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest

from procward.kit.testing import free_port
from procward.supervision.config import ConfigError, parse_app
from procward.supervision.process import SpawnError
from procward.supervision.sockets import HeldSockets, check_address, with_sockets
from procward.supervision.spec import Launch


@pytest.fixture
def short_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="pws-", dir="/tmp")
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000, None)),
        ("8000", ("127.0.0.1", 8000, None)),
        ("[::1]:80", ("::1", 80, None)),
        ("/run/app.sock", ("", 0, "/run/app.sock")),
        ("unix:/run/app.sock", ("", 0, "/run/app.sock")),
    ],
)
def test_addresses(text: str, where: tuple[str, int, str | None]) -> None:
    address = check_address(text)
    assert (address.host, address.port, address.path) == where


def test_config_mistakes_in_sockets_are_located() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_app(
            "web",
            {"cmd": "x", "sockets": {"a:b": "80", "rel": "unix:run.sock", "n": True}},
            base_dir="/",
        )
    assert [str(p) for p in caught.value.problems] == [
        "apps.web.sockets.a:b: is not a socket name (printable, no ':', at most 255)",
        "apps.web.sockets.rel: a Unix socket needs an absolute path, got 'run.sock'",
        "apps.web.sockets.n: must be 'host:port' or a Unix socket path, got true",
    ]


def test_a_port_number_is_an_address() -> None:
    spec = parse_app("web", {"cmd": "x", "sockets": {"http": 8000}}, base_dir="/")
    assert spec.sockets == {"http": "8000"}
    assert parse_app("web", spec.to_table(), base_dir="/") == spec


def test_held_sockets_listen_above_the_fds_they_are_given_as(short_dir: str) -> None:
    held = HeldSockets({"http": f"127.0.0.1:{free_port()}", "admin": f"{short_dir}/a.sock"})
    try:
        assert [s.fileno() >= 100 for s in held.sockets] == [True, True]
        assert all(not os.get_inheritable(s.fileno()) for s in held.sockets)
        port = held.sockets[0].getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # queued: listening
    finally:
        held.close()
    assert not os.path.exists(f"{short_dir}/a.sock")


def test_a_stale_unix_socket_file_is_replaced_but_a_live_one_is_not(short_dir: str) -> None:
    path = f"{short_dir}/s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    HeldSockets({"s": path}).close()
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        live.listen()
        with pytest.raises(SpawnError, match=r"cannot listen on .*s\.sock: Address already in use"):
            HeldSockets({"s": path})
        assert os.path.exists(path)


def test_a_busy_port_fails_and_releases_what_was_bound(short_dir: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SpawnError, match=f"cannot listen on 127.0.0.1:{port}: Address"):
            HeldSockets({"ok": f"{short_dir}/ok.sock", "busy": f"127.0.0.1:{port}"})
    assert not os.path.exists(f"{short_dir}/ok.sock")


def test_an_app_is_started_through_the_prologue(short_dir: str) -> None:
    held = HeldSockets({"http": f"127.0.0.1:{free_port()}"})
    try:
        plan = with_sockets(Launch(("sleep", "1"), {"PATH": os.defpath}, short_dir), held)
    finally:
        held.close()
    assert plan.argv[:2] == ("/bin/sh", "-c") and plan.argv[-2:] == ("sleep", "1")
    assert plan.cwd is None and plan.env["PROCWARD_CWD"] == short_dir
    assert (plan.env["LISTEN_FDS"], plan.env["LISTEN_FDNAMES"]) == ("1", "http")
    assert len(plan.pass_fds) == 1


@pytest.mark.parametrize(
    ("argv", "cwd", "why"),
    [
        (("no-such-program-pw",), None, "no-such-program-pw: command not found"),
        (("sleep", "1"), "/no/such/dir", "working directory /no/such/dir does not exist"),
    ],
)
def test_what_cannot_start_is_said_before_the_shell_runs(
    argv: tuple[str, ...], cwd: str | None, why: str
) -> None:
    held = HeldSockets({})
    with pytest.raises(SpawnError, match=why):
        with_sockets(Launch(argv, {"PATH": os.defpath}, cwd), held)


def test_held_tcp_sockets_answer_without_nagle_delay(short_dir: str) -> None:
    # uvicorn --fd takes the fd for a Unix socket and never sets TCP_NODELAY:
    # a keep-alive round trip behind procward then waits ~40 ms for Nagle.
    held = HeldSockets({"http": f"127.0.0.1:{free_port()}", "unix": f"{short_dir}/u.sock"})
    try:
        listener = held.sockets[0]
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        with socket.create_connection(listener.getsockname(), timeout=2):
            conn, _ = listener.accept()
            with conn:  # what the app gets: accepted sockets inherit it on Linux
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        held.close()


def test_adopted_tcp_sockets_get_no_delay_too() -> None:
    # Bound by an older program (an upgrade from before the option was set).
    old = socket.socket()
    old.bind(("127.0.0.1", 0))
    old.listen()
    held = HeldSockets.adopted({"http": "127.0.0.1:1"}, [old.detach()])
    try:
        assert held.sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        held.close()
