"""The dashboard's tests: a daemon (tests/daemon's fixtures) serving HTTP, and tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench.chromium import Browser, find_chromium

from procward.kit._client import Client
from tests.daemon.conftest import daemon, load_apps, write_config

__all__ = ["browser", "daemon", "http_address", "load_apps", "write_config"]


@pytest.fixture
def http_address(daemon: Client) -> tuple[str, int]:
    address: str = daemon.call("setNetwork", http="127.0.0.1:0")["addresses"]["http"]
    host, port = address.rsplit(":", 1)
    return host, int(port)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module; in CI a missing one fails, elsewhere it skips."""
    import os

    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium in CI: make test-tools installs it (apt-get install chromium)")
        pytest.skip("no chromium here (apt-get install chromium, or make test-tools)")
    pytest.importorskip(
        "websocket", reason="websocket-client is a dev dependency: pip install -e .[dev]"
    )
    started = Browser(executable)
    yield started
    started.close()


def token(client: Client, role: str) -> str:
    made: str = client.call("createToken", role=role, ttl="10m", subject=f"test {role}")["token"]
    return made
