"""fastjson must behave like json on everything the wire carries."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit import _fastjson as fastjson

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(),  # lone surrogates included: the output must still be valid UTF-8
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip_matches_json(value: object) -> None:
    text = fastjson.dumps(value)
    text.encode("utf-8")  # ASCII-only, so always encodable
    assert json.loads(text) == value
    assert fastjson.loads(text) == value
    assert fastjson.loads(text.encode()) == value


@given(values)
def test_decodes_what_json_encodes(value: object) -> None:
    assert fastjson.loads(json.dumps(value, indent=1)) == value


@pytest.mark.parametrize("text", ["", " ", "{", "[1] x", "[1]\u00a0", '"\\x"', "nul", "[1,]"])
def test_rejects_what_json_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        fastjson.loads(text)


def test_whitespace_around_a_document_is_json_whitespace_only() -> None:
    assert fastjson.loads(" \t\r\n[1] \n") == [1]


def test_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        fastjson.loads(b"\xff")


def test_special_floats_like_json() -> None:
    assert fastjson.dumps([math.inf]) == json.dumps([math.inf], separators=(",", ":"))
    assert math.isnan(fastjson.loads("NaN"))


def test_unserialisable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        fastjson.dumps({"a": object()})


def test_quote_matches_json() -> None:
    assert fastjson.quote('a"b\u00e9') == json.dumps('a"b\u00e9')
