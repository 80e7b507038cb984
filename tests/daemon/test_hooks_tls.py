"""https webhooks from a daemon started without OpenSSL: verified against the CA store.

The daemon trusts the system's CA store; here ``SSL_CERT_FILE`` (which
OpenSSL reads for its default store) names a CA made for the test, set
before the daemon starts. A server whose certificate another CA signed is
refused, so verification is on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from tests.conftest import Result
from tests.daemon.conftest import LoadApps

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command makes the test certificates"
)


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make(name: str, signer: str | None, cwd: str) -> str:
    """A CA (``signer`` None) or a server certificate for 127.0.0.1 that ``signer`` signed."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if signer is None:
        _openssl(
            "req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=cwd,
        )  # fmt: skip
        return os.path.join(cwd, f"{name}.pem")
    _openssl(
        "req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=cwd,
    )  # fmt: skip
    with open(os.path.join(cwd, f"{name}.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{signer}.pem", "-CAkey", f"{signer}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip
    return os.path.join(cwd, name)


class TlsReceiver:
    """An HTTPS server on 127.0.0.1 with the certificate ``cert`` (.pem and .key)."""

    def __init__(self, cert: str) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(f"{cert}.pem", f"{cert}.key")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers(
    home: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TlsReceiver, TlsReceiver]]:
    """A server the daemon trusts and one it must not; the daemon's CA store set."""
    where = os.path.join(home, "certs")
    os.mkdir(where)
    ca = _make("ca", None, where)
    _make("wrong-ca", None, where)
    trusted = TlsReceiver(_make("good", "ca", where))
    stranger = TlsReceiver(_make("bad", "wrong-ca", where))
    monkeypatch.setenv("SSL_CERT_FILE", ca)  # before the daemon starts: it inherits it
    yield trusted, stranger
    trusted.close()
    stranger.close()


@pytest.fixture
def lean_daemon(servers: Any, cli: Callable[..., Result], paths: InstancePaths) -> Iterator[Client]:
    assert cli("up").code == 0
    client = Client.open(paths.socket)
    yield client
    client.close()
    assert cli("down").code == 0


def test_https_webhooks_are_verified_and_signed(
    lean_daemon: Client, load_apps: LoadApps, servers: tuple[TlsReceiver, TlsReceiver]
) -> None:
    trusted, stranger = servers
    maps = f"/proc/{lean_daemon.call('ping')['pid']}/maps"
    with open(maps) as f:
        assert "libssl" not in f.read()  # started without OpenSSL: no TLS of its own
    load_apps(f"""
        [hooks.good]
        on = ["gave-up"]
        url = "{trusted.url}"
        secret = "k"

        [hooks.bad]
        on = ["gave-up"]
        url = "{stranger.url}"
        retries = 0

        [apps.job]
        cmd = ["{sys.executable}", "-c", "raise SystemExit(2)"]
        restart = "never"
    """)
    wait_for(lambda: trusted.requests, 10, what="the https POST")
    [(headers, body)] = trusted.requests
    signed = headers["X-Procward-Timestamp"].encode() + b"." + body
    expected = hmac.new(b"k", signed, hashlib.sha256).hexdigest()
    assert headers["X-Procward-Signature"] == f"sha256={expected}"

    def failed() -> dict[str, Any] | None:
        bad = next(h for h in lean_daemon.call("getHooks") if h["name"] == "bad")
        return bad if bad["failed"] else None

    bad = wait_for(failed, 10, what="the untrusted server refused")
    assert "certificate verify failed" in bad["last_error"]
    assert not stranger.requests
