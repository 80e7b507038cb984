"""``[daemon.cluster]`` and ``placement`` in procward.toml: read, or refused at their keys."""

from __future__ import annotations

import pytest

from procward.supervision.config import ConfigError, parse_config


def problems_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir="/etc", source="/etc/p.toml")
    return str(info.value).splitlines()


def test_a_cluster_table_is_read_with_its_defaults() -> None:
    cluster = {"enabled": True, "node": "web-1", "election_timeout": "2s-4s", "key_file": "k"}
    config = parse_config({"daemon": {"cluster": cluster}}, base_dir="/etc", source="/etc/p.toml")
    assert config.cluster is not None
    assert config.cluster.node == "web-1" and config.cluster.heartbeat == 2.0
    assert config.cluster.offline_after == 90.0 and config.cluster.on_partition == "keep"
    assert config.cluster.election_timeout == (2.0, 4.0)
    assert config.cluster.key_file == "/etc/k" and config.cluster.source == "/etc/p.toml"
    assert parse_config({}, base_dir="/").cluster is None


def test_every_bad_value_is_named_with_its_key() -> None:
    cluster = {
        "enabled": "yes",
        "redis": "http://x",
        "advertise": "nowhere",
        "labels": {"zone": 1},
        "election_timeout": "15s-5s",
        "on_partition": "panic",
        "password": "secret:",
        "bogus": 1,
    }
    assert problems_of({"daemon": {"cluster": cluster}}) == [
        "/etc/p.toml: daemon.cluster.enabled: must be true or false, got 'yes'",
        '/etc/p.toml: daemon.cluster.redis: must be a URL like "redis://host:6379/0" or '
        "\"rediss://...\" (TLS), got 'http://x'",
        '/etc/p.toml: daemon.cluster.advertise: must be "host:port" of this daemon\'s TCP '
        "listener, got 'nowhere'",
        "/etc/p.toml: daemon.cluster.labels: zone: must be a printable string of 1-200 "
        "characters, got 1",
        "/etc/p.toml: daemon.cluster.election_timeout: the range must not end before it "
        "starts, got '15s-5s'",
        '/etc/p.toml: daemon.cluster.on_partition: must be "keep" or "stop", got \'panic\'',
        "/etc/p.toml: daemon.cluster.password: names no valid secret, got 'secret:'",
        "/etc/p.toml: daemon.cluster.bogus: unknown key; the keys of [daemon.cluster] are: "
        "enabled, redis, name, node, advertise, labels, heartbeat, offline_after, "
        "election_timeout, on_partition, key_file, password",
    ]


def test_timings_that_cannot_work_are_refused() -> None:
    cluster = {"heartbeat": "2s", "offline_after": "3s", "election_timeout": "1s-2s"}
    assert problems_of({"daemon": {"cluster": cluster}}) == [
        "/etc/p.toml: daemon.cluster.offline_after: must be at least twice the heartbeat",
        "/etc/p.toml: daemon.cluster.election_timeout: must start at or above the heartbeat",
    ]


def test_placement_without_an_enabled_cluster_is_refused() -> None:
    """Decision 0048: it would run on every machine that loads the file."""
    app = {"cmd": "x", "placement": {"count": 1}}
    for daemon in ({}, {"cluster": {"enabled": False}}):
        assert problems_of({"daemon": daemon, "apps": {"r": app}}) == [
            "/etc/p.toml: apps.r.placement: needs a fleet: this file has no [daemon.cluster] "
            "with enabled = true, and without one the app would run on every machine that "
            "loads the file"
        ]
    config = parse_config(
        {"daemon": {"cluster": {"enabled": True}}, "apps": {"r": app}}, base_dir="/"
    )
    assert config.apps["r"].placement is not None and config.apps["r"].placement.count == 1


def test_a_bad_placement_is_refused_at_its_key() -> None:
    app = {"cmd": "x", "placement": {"count": 0, "labels": [], "where": 1}}
    assert problems_of({"daemon": {"cluster": {"enabled": True}}, "apps": {"r": app}}) == [
        '/etc/p.toml: apps.r.placement.labels: must be a table of name = "value", got an array',
        "/etc/p.toml: apps.r.placement.where: unknown key; the keys of placement are: "
        "count, labels",
    ]
