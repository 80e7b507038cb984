"""The secret-name rule and the bounded, masked copy of params (pure, fast)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procward.kit._masking import (
    MASK,
    MAX_ITEMS,
    MAX_STRING,
    bounded,
    is_secret_name,
    masked_env,
    masked_url_passwords,
)

SECRET = [
    "AWS_SECRET_ACCESS_KEY",
    "PROCWARD_TOKEN",
    "GITHUB_TOKENS",
    "DB_PASSWORD",
    "MYSQL_PASSWD",
    "DB_PASS",
    "GPG_PASSPHRASE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SSH_PRIVATE_KEY",
    "API_KEY",
    "APIKEY",
    "apiKey",
    "awsAccessKeys",
    "HTTP_AUTHORIZATION",
    "OAUTH_CLIENT_ID",
    "BASIC_AUTH",
    "token",
    "password",
    "secret",
    "x-api-key",
]
NOT_SECRET = [
    "PATH",
    "HOME",
    "PWD",
    "KEYBOARD",
    "XKB_KEYMAP",
    "GIT_AUTHOR_NAME",
    "PASSENGER_ROOT",
    "DATABASE_URL",
    "LANG",
    "name",
    "timeout",
]


@pytest.mark.parametrize("name", SECRET)
def test_names_that_look_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", NOT_SECRET)
def test_names_that_do_not(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgres://app:hunter2@db:5432/x", "postgres://app:***@db:5432/x"),
        ("redis://:hunter2@cache/0", "redis://:***@cache/0"),
        ("mysql://u:p@ss@db/x?q=a@b", "mysql://u:***@db/x?q=a@b"),  # an unencoded @ in it
        ("use amqp://u:pw@mq and https://x:y@h", "use amqp://u:***@mq and https://x:***@h"),
        ("http://host:8080/path?x=a@b", "http://host:8080/path?x=a@b"),  # a port, no password
        ("https://user@host/", "https://user@host/"),
        ("no url here", "no url here"),
    ],
)
def test_url_passwords_are_masked(text: str, shown: str) -> None:
    assert masked_url_passwords(text) == shown


def test_an_environment_is_masked_and_says_which_names() -> None:
    env = {
        "PATH": "/usr/bin",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
        "DATABASE_URL": "postgres://app:hunter2@db/x",
        "EMPTY_TOKEN": "",
    }
    shown, names = masked_env(env)
    assert shown == {
        "PATH": "/usr/bin",
        "AWS_SECRET_ACCESS_KEY": MASK,
        "DATABASE_URL": "postgres://app:***@db/x",
        "EMPTY_TOKEN": "",
    }
    assert names == ["AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]


def test_positional_params_are_masked_by_their_parameter_names() -> None:
    assert bounded(["eyJ.tok.en"], ("token",)) == [MASK]
    assert bounded(["web", 5], ("name", "timeout")) == ["web", 5]
    assert bounded(["web", "extra"], ("name",)) == ["web", MASK]  # no name: no telling
    assert bounded(["eyJ.tok.en"], ()) == [MASK]  # an unknown method
    assert bounded(["a", 1]) == ["a", 1]  # not a call's params: a list is a list


def test_params_are_cut_in_length_breadth_and_depth() -> None:
    deep: Any = "bottom"
    for _ in range(20):
        deep = {"d": deep}
    copy = bounded({"s": "x" * 10_000, "l": list(range(1_000)), "deep": deep, "n": 10**30})
    assert copy["s"] == "x" * (MAX_STRING - 1) + "…"
    assert copy["l"] == [*range(MAX_ITEMS - 1), f"… {1_001 - MAX_ITEMS} more items"]
    assert "bottom" not in json.dumps(copy["deep"])
    assert copy["n"] == "<a very large number>"
    many = bounded({f"k{i}": i for i in range(200)})
    assert len(many) == MAX_ITEMS and many["…"] == f"{201 - MAX_ITEMS} more keys"


@pytest.mark.parametrize(
    "params",
    [
        [None] * (MAX_ITEMS + 2),  # hypothesis found it: 50 kept + a note made 51, cut again
        {f"k{i}": i for i in range(MAX_ITEMS + 1)},
        {"args": list(range(MAX_ITEMS + 1))},
        # hypothesis again: the notes took no budget, their copies did, so the second
        # pass ran out of values earlier and cut more
        [list(range(MAX_ITEMS + 10))] * 10,
        [{f"k{i}": i for i in range(MAX_ITEMS + 10)}] * 10,
    ],
)
def test_a_cut_copy_is_cut_the_same_way_again(params: Any) -> None:
    once = bounded(params)
    assert bounded(once) == once
    assert len(once if isinstance(once, list) else once.get("args", once)) <= MAX_ITEMS


def test_secret_keys_are_masked_at_any_depth_and_urls_in_values() -> None:
    params = {
        "name": "web",
        "env": {"API_KEY": "k", "DSN": "postgres://u:pw@h/x"},
        "items": [{"password": {"nested": "v"}}],
    }
    assert bounded(params) == {
        "name": "web",
        "env": {"API_KEY": MASK, "DSN": "postgres://u:***@h/x"},
        "items": [{"password": MASK}],
    }


def test_a_url_password_is_masked_before_the_string_is_cut() -> None:
    text = "postgres://u:" + "p" * 500 + "@h/x"
    assert "ppp" not in bounded({"url": text})["url"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=80) | st.dictionaries(st.text(), inner, max_size=80),
    max_leaves=600,
)


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_any_params_make_a_small_copy(params: Any) -> None:
    text = json.dumps(bounded(params), ensure_ascii=False)
    # 500 values of 200 characters, 50 keys of 200 characters per level: a bound, not a target.
    assert len(text) < 500 * 2 * (MAX_STRING + 10)
    assert bounded(bounded(params)) == bounded(params)  # masking twice changes nothing
