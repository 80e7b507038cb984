from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from procward.kit.client import Client
from procward.kit.paths import InstancePaths


@pytest.fixture
def daemon(cli: Callable[..., Any], paths: InstancePaths) -> Iterator[Client]:
    """A running daemon in the test's home and a connection to it; `down` at the end."""
    assert cli("up").code == 0
    client = Client.open(paths.socket)
    yield client
    client.close()
    # Stop the apps while the daemon can still do it by the book.
    result = cli("down")
    assert result.code == 0, result.err
