"""``FleetNode``'s decisions that need no Redis: fenced orders, kept across a restart."""

from __future__ import annotations

import asyncio
import os

import pytest

from procward.fleet.node import FleetNode
from procward.fleet.placement import PlacedApp
from procward.fleet.store import Assignments
from procward.supervision.clusterkeys import ClusterSettings


class Host:
    def __init__(self) -> None:
        self.running: set[str] = set()

    def placed(self) -> list[PlacedApp]:
        return [PlacedApp("reporter", 1)]

    def occupied(self) -> frozenset[str]:
        return frozenset(self.running)

    def summary(self) -> dict[str, list[int]]:
        return {}

    def address(self) -> str:
        return ""

    async def start(self, app: str) -> None:
        self.running.add(app)

    async def stop(self, app: str) -> None:
        self.running.discard(app)


def node(path: str, host: Host) -> FleetNode:
    settings = ClusterSettings(enabled=True, node="n1")
    return FleetNode(settings, None, host, state_path=path, version="x")  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_orders_below_the_highest_fence_are_refused_even_after_a_restart(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "fleet.json")
    host = Host()

    async def first() -> None:
        n = node(path, host)
        n.apply(Assignments(5, "n2", {"reporter": ("n1",)}))
        await settle()
        assert host.running == {"reporter"} and n.highest_fence == 5

    async def after_restart() -> None:
        n = node(path, host)  # a new daemon: the fence comes from fleet.json
        assert n.highest_fence == 5
        n.apply(Assignments(4, "ghost", {"reporter": ()}))
        await settle()
        assert host.running == {"reporter"} and n.refused == 1
        n.apply(Assignments(6, "n3", {"reporter": ("n2",)}))
        await settle()
        assert host.running == set() and n.highest_fence == 6

    asyncio.run(first())
    asyncio.run(after_restart())


def test_a_damaged_fence_file_reads_as_zero(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "fleet.json")
    with open(path, "w") as f:
        f.write("{not json")
    assert node(path, Host()).highest_fence == 0


def test_a_fleet_without_the_redis_package_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from procward.daemon.parts.fleet import Fleet
    from procward.supervision.spec import ConfigError

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    fleet = Fleet(None, "/", None, version="x", addresses=dict, secrets=dict)  # type: ignore[arg-type]
    settings = ClusterSettings(enabled=True, source="/etc/p.toml")
    with pytest.raises(ConfigError, match=r"pip install 'procward\[fleet\]'"):
        fleet.check(settings)


@pytest.mark.parametrize(
    ("mode", "content", "said"),
    [
        (0o644, "k" * 64, "must be this user's and mode 0600"),
        (0o600, "short", "at least 32 bytes"),
    ],
)
def test_a_fleet_key_must_be_private_and_long(
    tmp_path: str, mode: int, content: str, said: str
) -> None:
    from procward.daemon.parts.fleet import read_fleet_key
    from procward.fleet.connection import FleetSetupError

    path = os.path.join(str(tmp_path), "fleet.key")
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)
    with pytest.raises(FleetSetupError, match=said):
        read_fleet_key(path)


def test_a_password_comes_from_a_secret_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from procward.fleet.connection import FleetSetupError, resolve_password

    monkeypatch.setenv("REDIS_PW", "from-env")
    assert resolve_password("${REDIS_PW}", None) == "from-env"
    assert resolve_password("secret:pw", lambda names: {"pw": b"from-store"}) == "from-store"
    assert resolve_password("plain", None) == "plain"
    with pytest.raises(FleetSetupError, match="is not set"):
        resolve_password("${NOPE_NOT_SET}", None)
    with pytest.raises(FleetSetupError, match="cannot read the secret 'pw'"):
        resolve_password("secret:pw", lambda names: {})
