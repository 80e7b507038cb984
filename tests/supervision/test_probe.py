"""Probe specs as the config states them: addresses, defaults, every mistake located."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.supervision.config import ConfigError, parse_app
from procward.supervision.probe import (
    FIRST_READY_ATTEMPT,
    Address,
    Probe,
    ProbeKind,
    http_address,
    ready_delay,
    tcp_address,
)


def app(**tables: object) -> tuple[Probe | None, Probe | None]:
    spec = parse_app("web", {"cmd": "srv", **tables}, base_dir="/srv")
    return spec.ready, spec.health


def problems(**tables: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_app("web", {"cmd": "srv", **tables}, base_dir="/srv")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8000", Address("127.0.0.1", 8000)),
        ("8000", Address("127.0.0.1", 8000)),
        ("localhost:80", Address("localhost", 80)),
        ("[::1]:8080", Address("::1", 8080)),
    ],
)
def test_tcp_addresses(text: str, address: Address) -> None:
    assert tcp_address(text) == address


@pytest.mark.parametrize("text", ["nohost", ":80", "host:0", "host:65536", "host:http"])
def test_bad_tcp_addresses_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"host:port|port must be"):
        tcp_address(text)


@pytest.mark.parametrize(
    ("url", "address", "host_header"),
    [
        ("http://127.0.0.1:8000/healthz", Address("127.0.0.1", 8000, "/healthz"), "127.0.0.1:8000"),
        ("http://localhost", Address("localhost", 80, "/"), "localhost"),
        ("http://[::1]:81/a?b=c", Address("::1", 81, "/a?b=c"), "[::1]:81"),
        ("HTTP://h/x", Address("h", 80, "/x"), "h"),
    ],
)
def test_http_addresses(url: str, address: Address, host_header: str) -> None:
    assert http_address(url) == address
    assert address.host_header == host_header


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/", "https is not supported"),
        ("127.0.0.1:8000/health", "must be a URL"),
        ("ftp://h/", "must be an http:// URL"),
        ("http://user:pw@h/", "no user or password"),
        ("http:///path", "must name a host"),
        ("http://h:99999/", "port must be"),
    ],
)
def test_bad_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        http_address(url)


def test_readiness_defaults() -> None:
    ready, health = app(ready={"tcp": 8000})
    assert health is None
    assert ready == Probe(ProbeKind.TCP, target="8000", timeout=1.0, interval=1.0)
    assert ready.start_timeout == 30.0


def test_health_defaults_and_settings() -> None:
    _, health = app(health={"http": "http://h/up", "interval": "5s", "failures": 2})
    assert health == Probe(
        ProbeKind.HTTP, target="http://h/up", timeout=2.0, interval=5.0, failures=2
    )


@pytest.mark.parametrize(
    ("table", "probe"),
    [
        ({"exec": "check --fast"}, Probe(ProbeKind.EXEC, argv=("check", "--fast"))),
        ({"exec": ["check", "a b"]}, Probe(ProbeKind.EXEC, argv=("check", "a b"))),
        ({"notify": True}, Probe(ProbeKind.NOTIFY)),
        ({"delay": "1.5s"}, Probe(ProbeKind.DELAY, delay=1.5)),
        ({"tcp": "127.0.0.1:$PORT"}, Probe(ProbeKind.TCP, target="127.0.0.1:$PORT")),
        (
            {"http": "http://h:80{instance}/"},
            Probe(ProbeKind.HTTP, target="http://h:80{instance}/"),
        ),
    ],
)
def test_each_kind_of_readiness_probe(table: dict[str, object], probe: Probe) -> None:
    assert app(ready={**table, "start_timeout": "9s"})[0] == Probe(
        probe.kind, probe.target, probe.argv, probe.delay, start_timeout=9.0
    )


def test_every_mistake_in_the_probe_tables_is_reported_at_once() -> None:
    assert problems(
        ready={"tcp": "nohost", "http": "https://x/", "start_timout": "1s"},
        health={"notify": True, "exec": "x", "failures": 0, "timeout": "0s"},
    ) == [
        "apps.web.ready.tcp: must be 'host:port' or a port number, got 'nohost'",
        "apps.web.ready.http: https is not supported for probes (the daemon runs without TLS), "
        "got 'https://x/'; probe the app's plain HTTP port on 127.0.0.1",
        "apps.web.ready.start_timout: unknown key; did you mean 'start_timeout'?",
        "apps.web.health.notify: is for [ready] only: a running instance is checked with "
        "tcp, http or exec",
        "apps.web.health.failures: must be an integer >= 1, got 0",
        "apps.web.health.timeout: must be longer than 0s, got '0s'",
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "apps.web.ready: needs one of tcp, http, exec, notify or delay, got none"),
        (
            {"tcp": 1, "exec": "x"},
            "apps.web.ready: needs one of tcp, http, exec, notify or delay, got tcp and exec",
        ),
        (
            {"notify": False},
            "apps.web.ready.notify: must be true (leave it out for no notify probe)",
        ),
        (
            "tcp",
            "apps.web.ready: must be a table with one of tcp, http, exec, notify, delay, got 'tcp'",
        ),
    ],
)
def test_a_probe_is_exactly_one_check(table: object, message: str) -> None:
    assert problems(ready=table) == [message]


def test_probes_survive_the_state_file() -> None:
    spec = parse_app(
        "web",
        {
            "cmd": "srv",
            "ready": {"http": "http://h:81/ready", "start_timeout": "1m"},
            "health": {"exec": ["check", "--deep"], "failures": 5, "interval": "250ms"},
        },
        base_dir="/",
    )
    table = spec.to_table()
    assert table["ready"]["http"] == "http://h:81/ready"
    assert parse_app("web", table, base_dir="/") == spec


def test_readiness_attempts_start_fast_and_slow_down_to_the_interval() -> None:
    delays = [ready_delay(n, 1.0) for n in range(10)]
    assert delays[0] == FIRST_READY_ATTEMPT
    assert delays[:3] == [0.02, 0.04, 0.08]
    assert delays[-1] == 1.0


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0.001, max_value=3600))
def test_readiness_delays_are_bounded_and_never_shrink(attempt: int, interval: float) -> None:
    delay = ready_delay(attempt, interval)
    assert FIRST_READY_ATTEMPT <= delay <= max(interval, FIRST_READY_ATTEMPT)
    assert ready_delay(attempt + 1, interval) >= delay
