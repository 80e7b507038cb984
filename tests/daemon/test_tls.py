"""TLS on the TCP and HTTP listeners (decision 0040), with certificates made by `openssl`.

Turning TLS on in a daemon started without OpenSSL restarts it in place (the
CLI runs ``upgrade``): every test here goes through that path first.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from procward.kit._client import Client, TLSRefused
from procward.kit._errors import InvalidParams, Unauthorized
from procward.kit._paths import InstancePaths
from procward.kit._tls import client_context
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, pid_of, start_sleeper

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command makes the test certificates"
)


@dataclass
class Certs:
    ca: str
    wrong_ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_ca(name: str, cwd: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=cwd,
    )  # fmt: skip


def _make_leaf(name: str, ca: str, ext: str, cwd: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=cwd,
    )  # fmt: skip
    with open(os.path.join(cwd, f"{name}.ext"), "w") as f:
        f.write(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip


@pytest.fixture
def certs(home: str) -> Certs:
    where = os.path.join(home, "certs")
    os.mkdir(where)
    _make_ca("ca", where)
    _make_ca("wrong-ca", where)
    _make_leaf("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", where)
    _make_leaf("client", "ca", "extendedKeyUsage=clientAuth\n", where)
    at = lambda name: os.path.join(where, name)  # noqa: E731
    return Certs(
        at("ca.pem"),
        at("wrong-ca.pem"),
        at("server.pem"),
        at("server.key"),
        at("client.pem"),
        at("client.key"),
    )


def serve_tls(cli: Callable[..., Result], certs: Certs, *extra: str) -> str:
    """``procward network --tcp 127.0.0.1:0 --http 127.0.0.1:0`` over TLS; the TCP address."""
    result = cli(
        "network", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--tls-cert", certs.server_cert, "--tls-key", certs.server_key, *extra, "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    # With --json, stdout is the JSON alone (decision 0049): what it did is said on stderr.
    assert "restarting the daemon in place to serve TLS" in result.err
    assert json.loads(result.out)["tls"]["serving"]
    return address_of(cli, "tcp")


def address_of(cli: Callable[..., Result], kind: str) -> str:
    import json

    reply = cli("network", "--json")
    assert reply.code == 0, reply.err
    view = json.loads(reply.out)
    assert view["tls"]["serving"], view
    address: str = view["addresses"][kind]
    return address


def admin_token(paths: InstancePaths) -> str:
    with Client.open(paths.socket) as client:
        made: str = client.call("createToken", role="admin", ttl="10m")["token"]
    return made


def test_a_client_with_the_right_ca_connects_and_the_apps_kept_running(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], certs: Certs, paths
) -> None:
    pid = start_sleeper(daemon, load_apps)
    address = serve_tls(cli, certs)
    token = admin_token(paths)
    with Client.open_tcp(address, token, tls=client_context(certs.ca)) as client:
        assert client.call("getApp", name="srv")["instances"][0]["pid"] == pid
    with Client.open(paths.socket) as local:
        assert pid_of(local, "srv") == pid  # the in-place restart kept the app
    result = cli("--connect", address, "--ca-file", certs.ca, "ping", env={"PROCWARD_TOKEN": token})
    assert result.code == 0 and "pong" in result.out, result.err


def test_without_the_ca_or_with_a_wrong_one_it_is_refused_clearly(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    address = serve_tls(cli, certs)
    with pytest.raises(TLSRefused, match=r"cannot verify the daemon at .*--ca-file"):
        Client.open_tcp(address, None, tls=client_context(certs.wrong_ca))
    wrong = cli("--connect", address, "--ca-file", certs.wrong_ca, "status")
    assert wrong.code == 1 and "cannot verify the daemon" in wrong.err, wrong.err
    clear = cli("--connect", address, "ping")  # no CA: no TLS, in clear
    assert clear.code == 1, clear.out
    assert "closed the connection at once: does it serve TLS?" in clear.err, clear.err


def test_clear_text_to_a_tls_port_is_dropped_and_the_daemon_carries_on(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    host, port = address_of_after(serve_tls(cli, certs))
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n')
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert b"pong" not in answer and b"pid" not in answer  # no JSON-RPC in clear
    with Client.open(paths.socket) as local:
        assert "pid" in local.call("ping")
    with Client.open_tcp(f"{host}:{port}", None, tls=client_context(certs.ca)) as client:
        assert "pid" in client.call("ping")


def address_of_after(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_mutual_tls_refuses_a_client_without_a_certificate(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    address = serve_tls(cli, certs, "--tls-client-ca", certs.ca)
    plain = client_context(certs.ca)
    with (
        pytest.raises(TLSRefused, match=r"refused the TLS connection.*--client-cert"),
        Client.open_tcp(address, None, tls=plain) as client,
    ):
        client.call("ping")
    mutual = client_context(certs.ca, certs.client_cert, certs.client_key)
    with Client.open_tcp(address, admin_token(paths), tls=mutual) as client:
        assert "daemon" in client.call("status")
    result = cli(
        "--connect", address, "--ca-file", certs.ca,
        "--client-cert", certs.client_cert, "--client-key", certs.client_key, "ping",
    )  # fmt: skip
    assert result.code == 0, result.err


def test_http_over_tls_serves_metrics_with_a_token(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    serve_tls(cli, certs)
    host, port = address_of_after(address_of(cli, "http"))
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=client_context(certs.ca))
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {admin_token(paths)}"})
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    assert reply.status == 200 and b"procward_" in body


def test_files_that_do_not_load_are_refused_and_nothing_changes(
    daemon: Client, certs: Certs
) -> None:
    before = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    with pytest.raises(InvalidParams, match="TLS: cannot load the certificate and key"):
        daemon.call("setNetwork", tls_cert=certs.server_cert, tls_key=certs.client_key)
    with pytest.raises(InvalidParams, match="no such file"):
        daemon.call("setNetwork", tls_cert=certs.server_cert + ".gone", tls_key=certs.server_key)
    with pytest.raises(InvalidParams, match="absolute path"):
        daemon.call("setNetwork", tls_cert="server.pem", tls_key=certs.server_key)
    view = daemon.call("getNetwork")
    assert view["tls"] is None and view["addresses"]["tcp"] == before


def test_turning_tls_off_serves_in_clear_again(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    address = serve_tls(cli, certs)
    result = cli("network", "--no-tls")
    assert result.code == 0 and "tls:" not in result.out, result.err

    def answers_in_clear() -> bool:
        with Client.open_tcp(address, None) as client:
            return "pid" in client.call("ping")

    assert wait_for(answers_in_clear, 10, what="the listener in clear")


def test_info_shows_the_warning_of_a_listener_open_in_clear(
    paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    """What the daemon writes in daemon.json (``Network.cleartext``), `info` shows, without
    a call: written here by hand, as no test listens beyond 127.0.0.1."""
    from procward.kit._metadata import Metadata, write_metadata
    from procward.kit._network import cleartext_warning

    paths.ensure()
    warning = cleartext_warning("tcp", "0.0.0.0:9700")
    write_metadata(paths, Metadata(1, 1, "boot", "1", paths.socket, 0.0, {}, [warning]))
    result = cli("info")
    assert f"warning: {warning}" in result.out, result.out


def test_files_that_no_longer_load_at_start_keep_the_listeners_closed(
    daemon: Client, cli: Callable[..., Result], certs: Certs
) -> None:
    serve_tls(cli, certs)
    assert cli("down").code == 0
    os.rename(certs.server_cert, certs.server_cert + ".old")
    up = cli("up")
    assert up.code == 1, "up must not look like all is well"
    assert "not listening on tcp" in up.err and "server.pem: no such file" in up.err, up.err
    shown = cli("network")
    assert shown.code == 1 and "not served" in shown.out, shown.out
    with Client.open(daemon_socket(cli)) as client:
        assert "tcp" not in client.call("getNetwork")["addresses"]  # never in clear instead


def daemon_socket(cli: Callable[..., Result]) -> str:
    import json

    info = cli("info", "--json")
    socket_path: str = json.loads(info.out)["socket"]
    return socket_path


def test_an_upgrade_keeps_serving_tls_on_the_same_listener(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    address = serve_tls(cli, certs)
    assert cli("upgrade").code == 0  # the listener is handed over and served with TLS again
    assert address_of(cli, "tcp") == address
    with Client.open_tcp(address, admin_token(paths), tls=client_context(certs.ca)) as client:
        assert "daemon" in client.call("status")


def test_sessions_in_clear_end_when_tls_is_turned_on(
    daemon: Client, cli: Callable[..., Result], certs: Certs, paths: InstancePaths
) -> None:
    """In a daemon that has OpenSSL already (it served TLS before): no restart, and the
    connections made in clear are ended with the reason."""
    address = serve_tls(cli, certs)
    assert cli("network", "--no-tls").code == 0
    with Client.open_tcp(address, admin_token(paths)) as in_clear:
        assert "daemon" in in_clear.call("status")
        again = cli("network", "--tls-cert", certs.server_cert, "--tls-key", certs.server_key)
        assert again.code == 0 and "restarting" not in again.out, again.out + again.err
        with pytest.raises((ConnectionError, Unauthorized), match="now serves TLS"):
            in_clear.call("status")
    with Client.open_tcp(address, None, tls=client_context(certs.ca)) as client:
        assert "pid" in client.call("ping")


def test_the_python_clients_and_a_remote_alias_speak_tls(
    daemon: Client,
    cli: Callable[..., Result],
    certs: Certs,
    paths: InstancePaths,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decision 0049: ``Client.connect``, ``AsyncClient.connect`` and a remotes.toml alias
    with its ``ca_file``, against a TLS listener."""
    import asyncio

    from procward import AsyncClient
    from procward import Client as PublicClient

    address = serve_tls(cli, certs)
    token = admin_token(paths)
    with Client.open(paths.socket) as local:  # the daemon's own was ended by the upgrade
        pid = local.call("ping")["pid"]
    with PublicClient.connect(f"tcp://{address}", token=token, ca_file=certs.ca) as remote:
        assert remote.status().daemon.pid == pid

    async def ping() -> int:
        async with AsyncClient.connect(address, token=token, ca_file=certs.ca) as remote:
            return (await remote.ping()).pid

    assert asyncio.run(ping()) == pid
    config = os.path.join(os.path.dirname(certs.ca), "config")  # in the test's home
    os.makedirs(os.path.join(config, "procward"), mode=0o700)
    monkeypatch.setenv("XDG_CONFIG_HOME", config)
    remotes = os.path.join(config, "procward", "remotes.toml")
    with open(os.open(remotes, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(f'[sec]\nurl = "tcp://{address}"\nca_file = "{certs.ca}"\n')
    said = cli("@sec", "ping", "--json", env={"PROCWARD_TOKEN": token})
    assert said.code == 0, said.err
    assert json.loads(said.out)["pid"] == pid
