"""The daemon on TCP: off by default, roles from tokens, nothing anonymous but ping."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._errors import Forbidden, InvalidParams, Unauthorized
from procward.kit._metadata import read_metadata
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, wait_state


def listen(daemon: Client) -> str:
    address: str = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    return address


def token(daemon: Client, role: str, ttl: str = "10m") -> str:
    made: str = daemon.call("createToken", role=role, ttl=ttl, subject=f"test {role}")["token"]
    return made


def test_tcp_is_off_by_default(daemon: Client, paths: InstancePaths) -> None:
    assert "tcp" not in daemon.call("status")["daemon"]["addresses"]
    meta = read_metadata(paths)
    assert meta is not None and "tcp" not in meta.addresses


def test_each_role_may_do_what_its_token_says(daemon: Client, load_apps: LoadApps) -> None:
    load_apps("""
        [apps.srv]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    address = listen(daemon)
    assert address.startswith("127.0.0.1:")
    with Client.open_tcp(address, None) as anonymous:
        assert "pid" in anonymous.call("ping")
        with pytest.raises(Unauthorized, match="authenticate with a token first"):
            anonymous.call("status")
    with Client.open_tcp(address, token(daemon, "viewer")) as viewer:
        assert viewer.call("getApp", name="srv")["name"] == "srv"
        with pytest.raises(Forbidden, match="stopApp needs the operator role"):
            viewer.call("stopApp", name="srv")
    with Client.open_tcp(address, token(daemon, "operator")) as operator:
        operator.call("stopApp", name="srv")
        with pytest.raises(Forbidden, match="createToken needs the admin role"):
            operator.call("createToken", role="admin")
    wait_state(daemon, "srv", "stopped")
    with Client.open_tcp(address, token(daemon, "admin")) as admin:
        assert admin.call("createToken", role="viewer")["subject"] == "issued by test admin"


def test_a_wrong_token_closes_the_connection(daemon: Client) -> None:
    address = listen(daemon)
    with Client.open_tcp(address, None) as guesser:
        with pytest.raises(Unauthorized, match="invalid token"):
            guesser.call("authenticate", token="eyJ.guess.ed")
        with pytest.raises((ConnectionError, OSError)):
            guesser.call("ping")
    assert "pid" in daemon.call("ping")  # the daemon carries on


def test_a_token_stops_working_when_it_expires(daemon: Client) -> None:
    address = listen(daemon)
    with Client.open_tcp(address, token(daemon, "viewer", ttl="3s")) as viewer:
        viewer.call("status")

        def refused() -> bool:
            try:
                viewer.call("status")
            except Unauthorized as exc:
                assert exc.message == "session ended: the token has expired"
                return True
            return False

        wait_for(refused, timeout=10, what="the token to expire")
        with pytest.raises(OSError):  # the session is over: the connection too
            viewer.call("ping")


def test_rotating_the_key_revokes_tokens(daemon: Client) -> None:
    address = listen(daemon)
    old = token(daemon, "viewer")
    daemon.call("rotateTokens")
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        Client.open_tcp(address, old)


def test_the_listener_is_kept_across_restarts_and_can_be_turned_off(
    daemon: Client, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    listen(daemon)
    assert cli("network", "--tcp", "127.0.0.1:0").code == 0
    assert cli("down").code == 0
    assert cli("up").code == 0
    with Client.open(paths.socket) as again:
        address = again.call("status")["daemon"]["addresses"]["tcp"]
        meta = read_metadata(paths)
        assert meta is not None and meta.addresses["tcp"] == address
        again.call("setNetwork", tcp="")
        assert "tcp" not in again.call("status")["daemon"]["addresses"]
    with pytest.raises(ConnectionRefusedError):
        Client.open_tcp(address, None)


def test_the_cli_talks_to_a_tcp_listener_with_a_token(
    daemon: Client, cli: Callable[..., Result]
) -> None:
    address = listen(daemon)
    viewer = token(daemon, "viewer")
    shown = cli("--connect", address, "status", env={"PROCWARD_TOKEN": viewer})
    assert shown.code == 0, shown.err
    assert shown.out.startswith("procward 0.1.0")
    refused = cli("--connect", address, "stop", "all", env={"PROCWARD_TOKEN": viewer})
    assert refused.code == 1
    assert "stopAll needs the operator role; this connection has viewer" in refused.err
    made = cli("token", "create", "operator", "--ttl", "5m")
    assert made.code == 0 and made.out.count(".") == 2  # header.claims.signature


def test_a_taken_port_is_a_clear_error(daemon: Client) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidParams, match=f"cannot listen on 127.0.0.1:{port}: Address"):
            daemon.call("setNetwork", tcp=f"127.0.0.1:{port}")
    assert "tcp" not in daemon.call("status")["daemon"]["addresses"]


def test_sighup_does_not_drop_the_listener(daemon: Client) -> None:
    address = listen(daemon)
    os.kill(daemon.call("status")["daemon"]["pid"], signal.SIGHUP)
    with Client.open_tcp(address, None) as anonymous:
        assert "pid" in anonymous.call("ping")


def test_changes_logins_and_refusals_are_audited(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [apps.srv]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    address = listen(daemon)
    viewer = token(daemon, "viewer")
    with Client.open_tcp(address, viewer) as remote:
        remote.call("status")  # a read: not audited
        with pytest.raises(Forbidden):
            remote.call("stopApp", name="srv", token="not-stored")
    daemon.call("stopApp", name="srv")
    entries = daemon.call("getAudit", limit=20)
    seen = [(e["transport"], e["method"], e["outcome"]) for e in entries]
    assert ("tcp", "authenticate", "ok") in seen
    assert ("tcp", "stopApp", "error") in seen
    assert ("unix", "stopApp", "ok") in seen
    assert ("tcp", "status", "ok") not in seen
    refused = next(e for e in entries if e["transport"] == "tcp" and e["method"] == "stopApp")
    assert refused["who"] == "test viewer" and refused["role"] == "viewer"
    assert refused["error"].startswith("-32002 stopApp needs the operator role")
    assert refused["params"] == {"name": "srv", "token": "***"}
    shown = cli("audit", "-n", "5")
    assert shown.code == 0 and "stopApp" in shown.out


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"role": "root"}, "unknown role 'root': use viewer, operator or admin"),
        ({"role": "anonymous"}, "a token names a role: viewer, operator or admin"),
        ({"role": "viewer", "ttl": "soon"}, "invalid ttl 'soon'"),
        ({"role": "viewer", "ttl": "91d"}, "at most 90d"),
    ],
)
def test_bad_token_requests_say_why(daemon: Client, params: dict[str, str], why: str) -> None:
    with pytest.raises(InvalidParams, match=why):
        daemon.call("createToken", **params)


def test_a_listener_that_cannot_bind_at_start_is_reported(
    cli: Callable[..., Result], paths: InstancePaths
) -> None:
    assert cli("up").code == 0
    with socket.socket() as probe:  # a port that was free, then taken while the daemon is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    assert cli("network", "--tcp", address).code == 0
    assert cli("down").code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        up = cli("up")
        assert up.code == 1, "up must not look like all is well"
        assert up.out.startswith("procward is running")  # the apps matter more: it runs
        assert f"not listening on tcp {address}: Address already in use" in up.err
        wanted = f"tcp:  {address} (not listening: Address already in use)"
        shown = cli("network")
        assert (shown.code, shown.out.splitlines()) == (0, [wanted, "http: off"])
        assert wanted in cli("status").out.splitlines()
        again = cli("network", "--tcp", address)
        assert again.code == 1
        assert f"cannot listen on {address}: Address already in use" in again.err
    assert cli("network", "--tcp", address).code == 0  # free again: listening
    assert cli("network").out.splitlines() == [f"tcp:  {address}", "http: off"]
    with Client.open(paths.socket) as client:
        assert client.call("status")["daemon"]["addresses"]["tcp"] == address


def test_a_failed_change_of_address_keeps_the_old_listener(daemon: Client) -> None:
    address = listen(daemon)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidParams, match="Address already in use"):
            daemon.call("setNetwork", tcp=f"127.0.0.1:{port}")
    assert daemon.call("status")["daemon"]["addresses"]["tcp"] == address
    with Client.open_tcp(address, None) as anonymous:
        assert "pid" in anonymous.call("ping")


def test_a_half_failed_change_saves_the_half_that_was_made(
    daemon: Client, paths: InstancePaths
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(InvalidParams, match="Address already in use"):
            daemon.call("setNetwork", tcp="127.0.0.1:0", http=f"127.0.0.1:{busy}")
    tcp = daemon.call("status")["daemon"]["addresses"]["tcp"]
    with open(paths.state) as f:
        saved = json.load(f)["settings"]["network"]
    assert saved == {"tcp": "127.0.0.1:0", "http": None} | dict.fromkeys(
        ("tls_cert", "tls_key", "tls_client_ca")
    )
    assert read_metadata(paths).addresses["tcp"] == tcp  # type: ignore[union-attr]


def test_an_anonymous_flood_does_not_lock_the_owner_out(
    daemon: Client, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    host, port = listen(daemon).rsplit(":", 1)
    flood: list[socket.socket] = []
    try:
        for _ in range(300):
            flood.append(socket.create_connection((host, int(port)), timeout=10))
        shown = cli("status")
        assert shown.code == 0, shown.err
        started = time.monotonic()
        with Client.open(paths.socket) as owner:
            seen = owner.call("status")["daemon"]
        assert time.monotonic() - started < 0.5
        # The pool is full at its per-address cap; status says so, the owner counted apart.
        assert seen["pools"]["anonymous"] == 16
        assert seen["pools"]["unix"] >= 2  # the fixture's connection and this one
    finally:
        for conn in flood:
            conn.close()
    with open(paths.daemon_log) as log:
        assert "anonymous ones from 127.0.0.1 already" in log.read()
