"""kit._tls's contexts and errors, and which listeners are warned of as clear text."""

from __future__ import annotations

import os
from typing import Any, cast

import pytest

from procward.kit._network import Network, is_loopback
from procward.kit._tls import TLSFilesError, client_context, server_context


def test_files_that_are_not_there_or_not_pem_are_named_in_the_error(tmp_path: Any) -> None:
    missing = os.path.join(str(tmp_path), "gone.pem")
    with pytest.raises(TLSFilesError, match=r"gone\.pem: no such file"):
        server_context(missing, missing)
    junk = os.path.join(str(tmp_path), "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    with pytest.raises(TLSFilesError, match=r"cannot load the certificate and key .*junk\.pem"):
        server_context(junk, junk)
    with pytest.raises(TLSFilesError, match=r"cannot load the CA file .*junk\.pem"):
        client_context(junk)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:9700", True),
        ("127.1.2.3:9700", True),
        ("[::1]:9700", True),
        ("localhost:9700", True),
        ("0.0.0.0:9700", False),
        ("[::]:9700", False),
        ("192.168.1.5:9700", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_a_listener_open_to_others_in_clear_is_warned_of_unless_tls() -> None:
    network = Network(cast(Any, None), cast(Any, None))
    network.address, network.http_address = "0.0.0.0:9700", "127.0.0.1:9800"
    (warning,) = network.cleartext()
    assert warning.startswith("tcp on 0.0.0.0:9700 is reachable from other machines without TLS")
    network.tls = cast(Any, object())  # any context
    assert network.cleartext() == []
