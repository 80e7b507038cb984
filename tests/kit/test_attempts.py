"""Failed logins per source: the limit, the lockout that doubles, the bounded table."""

from __future__ import annotations

import pytest

from procward.kit._attempts import FailedAttempts, source_of


def fail(attempts: FailedAttempts, source: str, times: int, now: float) -> None:
    for _ in range(times):
        attempts.failed(source, now)


def test_a_source_may_fail_a_few_times_then_waits() -> None:
    attempts = FailedAttempts(limit=5, window=60, first_lockout=10)
    fail(attempts, "10.0.0.1", 4, now=100)
    assert attempts.wait_before("10.0.0.1", 100) == 0
    attempts.failed("10.0.0.1", 100)
    assert attempts.wait_before("10.0.0.1", 100) == 10
    assert attempts.wait_before("10.0.0.1", 109.5) == 1  # whole seconds, rounded up
    assert attempts.wait_before("10.0.0.1", 110) == 0
    assert attempts.wait_before("10.0.0.2", 100) == 0  # others are not punished


def test_failures_spread_over_more_than_the_window_do_not_add_up() -> None:
    attempts = FailedAttempts(limit=5, window=60)
    for minute in range(10):
        fail(attempts, "a", 4, now=minute * 61.0)
        assert attempts.wait_before("a", minute * 61.0) == 0


def test_each_lockout_in_a_row_doubles_up_to_the_most() -> None:
    attempts = FailedAttempts(limit=2, window=60, first_lockout=10, max_lockout=35)
    now, seen = 0.0, []
    for _ in range(4):
        fail(attempts, "a", 2, now)
        wait = attempts.wait_before("a", now)
        seen.append(wait)
        now += wait
    assert seen == [10, 20, 35, 35]


def test_a_quiet_source_is_forgiven() -> None:
    attempts = FailedAttempts(limit=2, window=60, first_lockout=10, max_lockout=100)
    fail(attempts, "a", 2, now=0)
    fail(attempts, "a", 2, now=10)
    assert attempts.wait_before("a", 10) == 20
    fail(attempts, "a", 2, now=30 + 100 + 60)  # quiet for max_lockout and a window
    assert attempts.wait_before("a", 190) == 10


def test_the_table_is_bounded_least_recent_first() -> None:
    attempts = FailedAttempts(limit=2, max_sources=3)
    fail(attempts, "old", 2, now=0)
    for n in range(3):
        attempts.failed(f"new{n}", 1)
    assert len(attempts) == 3
    assert attempts.wait_before("old", 1) == 0  # dropped: starts afresh


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("127.0.0.1:5555", "127.0.0.1"),
        ("::ffff:10.1.2.3:80", "10.1.2.3"),
        ("2001:db8:1:2:aaaa::1:443", "2001:0db8:0001:0002::/64"),
        ("2001:db8:1:2:bbbb::9:1000", "2001:0db8:0001:0002::/64"),  # same host, same /64
        ("::1:9", "0000:0000:0000:0000::/64"),
        ("?", "?"),
    ],
)
def test_sources_are_addresses_and_ipv6_slash_64s(address: str, source: str) -> None:
    assert source_of(address) == source
