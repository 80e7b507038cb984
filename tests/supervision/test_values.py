"""Readers of config values: the hints a mistake gets."""

from __future__ import annotations

import pytest

from procward.supervision.values import close_match, unknown_key

APP_KEYS = ("cmd", "cwd", "instances", "restart", "max_restarts", "stop_signal", "stop_timeout")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("instanses", "instances"),  # a typo
        ("stop_sginal", "stop_signal"),  # two letters swapped
        ("timeout_stop", "stop_timeout"),  # the words in another order
        ("max_restart", "max_restarts"),
        ("max_memory_restart", None),  # another key, not a typo of one
        ("restart_count", None),
        ("stop", None),
    ],
)
def test_a_close_match_is_a_slip_not_a_lookalike(typed: str, meant: str | None) -> None:
    assert close_match(typed, APP_KEYS) == meant


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("stopwaitsecs", "'stopwaitsecs' is supervisord's: use 'stop_timeout'"),
        ("numprocesses", "'numprocesses' is Circus's: use 'instances'"),
        ("autorestart", "'autorestart' is supervisord's and PM2's: use 'restart'"),
    ],
)
def test_keys_of_other_supervisors_get_procwards_own(key: str, said: str) -> None:
    assert unknown_key(key, APP_KEYS, "an app").startswith(f"unknown key; {said}")


def test_a_key_procward_does_without_says_what_to_do_instead() -> None:
    said = unknown_key("max_memory_restart", APP_KEYS, "an app")
    assert said.startswith("unknown key; 'max_memory_restart' is PM2's: use 'max_memory'")
    assert "max_restarts" not in said


def test_no_key_of_another_supervisor_is_one_of_procwards() -> None:
    from procward.supervision.appkeys import READERS
    from procward.supervision.otherkeys import OTHER_KEYS

    assert not set(OTHER_KEYS) & set(READERS)  # its answer would never be given
    said = unknown_key("uid", READERS, "an app")
    assert said == "unknown key; 'uid' is PM2's and Circus's: use 'user' (a name or a number)"
