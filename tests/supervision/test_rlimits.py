"""``limits``, ``nice`` and ``oom_score_adj``: what each reader takes and how it refuses."""

from __future__ import annotations

import pytest

from procward.supervision.config import ConfigError, parse_app
from procward.supervision.rlimits import UNLIMITED, read_limits, read_nice, read_oom_score_adj
from procward.supervision.spec import AppSpec
from procward.supervision.values import Nested


def test_each_form_of_a_limit() -> None:
    limits = read_limits(
        {
            "nofile": 65536,
            "nproc": [256, 512],
            "core": 0,
            "memlock": "64MB",
            "stack": ["8MB", "unlimited"],
            "cpu": "infinity",
        },
        "/",
    )
    assert limits == {
        "nofile": (65536, 65536),
        "nproc": (256, 512),
        "core": (0, 0),
        "memlock": (64 << 20, 64 << 20),
        "stack": (8 << 20, UNLIMITED),
        "cpu": (UNLIMITED, UNLIMITED),
    }


@pytest.mark.parametrize(
    ("limits", "key", "message"),
    [
        ({"nofiles": 1}, "nofiles", "unknown resource (did you mean 'nofile'?); the resources are"),
        (
            {"nofile": "64MB"},
            "nofile",
            "must be a number >= 0, 'unlimited' or [soft, hard], got '64MB'",
        ),
        ({"core": -1}, "core", "a size like '64MB' or [soft, hard], got -1"),
        ({"nproc": [10, 5]}, "nproc", "the soft limit 10 is above the hard limit 5"),
        ({"nproc": ["unlimited", 5]}, "nproc", "the soft limit 'unlimited' is above"),
        ({"nproc": [1, 2, 3]}, "nproc", "must be one value or [soft, hard], got an array of 3"),
        ({"nofile": True}, "nofile", "got true"),
    ],
)
def test_a_bad_limit_is_located_and_quoted(
    limits: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(Nested) as caught:
        read_limits(limits, "/")
    [(where, why)] = caught.value.problems
    assert where == key
    assert message in why


def test_every_bad_limit_at_once_through_the_config() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_app("web", {"cmd": "x", "limits": {"nofile": "x", "bogus": 1}}, base_dir="/")
    assert [p.key for p in caught.value.problems] == ["limits.nofile", "limits.bogus"]


def test_limits_must_be_a_table() -> None:
    with pytest.raises(ValueError, match="must be a table like"):
        read_limits(65536, "/")


@pytest.mark.parametrize("value", [-20, 0, 19])
def test_nice_from_minus_20_to_19(value: int) -> None:
    assert read_nice(value, "/") == value


@pytest.mark.parametrize("value", [-21, 20, "10", True, 1.5])
def test_a_bad_nice_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"must be an integer from -20 .* to 19 .*, got"):
        read_nice(value, "/")


@pytest.mark.parametrize("value", [-1001, 1001, "500", False])
def test_a_bad_oom_score_adj_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"must be an integer from -1000 .* to 1000 .*, got"):
        read_oom_score_adj(value, "/")


def test_the_settings_survive_a_round_trip_through_the_table() -> None:
    table = {
        "cmd": "x",
        "umask": "027",
        "limits": {"nofile": [1024, 4096], "core": 0, "stack": "unlimited"},
        "nice": -5,
        "oom_score_adj": 300,
    }
    spec = parse_app("web", table, base_dir="/")
    assert spec.confined
    assert parse_app("web", spec.to_table(), base_dir="/") == spec
    assert spec.to_table()["limits"] == {"nofile": [1024, 4096], "core": 0, "stack": "unlimited"}
    assert not AppSpec(name="plain", cmd=("x",)).confined
