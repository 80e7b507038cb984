"""parse_duration and format_duration: the accepted forms, the refusals, the round trip."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit._durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("15s", 15.0),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("1m 30s", 90.0),
        ("1m  30s ", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("1h1m1s1ms", 3661.001),
        ("15 s", 15.0),
        ("0s", 0.0),
        ("10", 10.0),
        ("2.5", 2.5),
    ],
)
def test_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("number", "seconds"), [(0, 0.0), (3, 3.0), (2.5, 2.5), (-0.0, 0.0)])
def test_numbers_are_seconds(number: float, seconds: float) -> None:
    result = parse_duration(number)
    assert result == seconds
    assert type(result) is float
    assert math.copysign(1, result) == 1


def test_parts_are_summed_exactly() -> None:
    assert parse_duration("1m30.1s") == 90.1
    assert parse_duration("0.1s 0.2s") == 0.3  # 0.1 + 0.2 in floats is 0.30000000000000004


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "(empty)"),
        ("   ", "(empty)"),
        ("-5s", "(negative)"),
        (-1, "(negative)"),
        (-0.5, "(negative)"),
        ("5x", ""),
        ("1m30", ""),
        ("1M", ""),
        ("1e3s", ""),
        ("fast", ""),
        ("s", ""),
        ("1..5s", ""),
        ("\u0663s", ""),  # ARABIC-INDIC DIGIT THREE: only ASCII digits
        (True, "(a boolean)"),
        (False, "(a boolean)"),
        (math.nan, "(not finite)"),
        (math.inf, "(not finite)"),
        (10**400, "(too large)"),
        ("9" * 400 + "d", "(too large)"),
    ],
)
def test_refusals_show_the_value_and_the_accepted_forms(value: object, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)  # type: ignore[arg-type]
    message = str(info.value)
    shown = repr(value)[:20]
    assert shown in message
    assert reason in message
    assert "'500ms'" in message
    assert "units: us, ms, s, m, h, d" in message


def test_what_names_the_value_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"^invalid stop_timeout 'soon'"):
        parse_duration("soon", what="stop_timeout")


def test_other_types_are_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid duration \['1s'\] \(a list\)"):
        parse_duration(["1s"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "0s"),
        (0.001, "1ms"),
        (0.5, "500ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (1.25, "1.25s"),
        (15, "15s"),
        (60, "1m"),
        (90, "1m30s"),
        (90.5, "1m30.5s"),
        (3600, "1h"),
        (3600.5, "1h500ms"),
        (7200, "2h"),
        (86400 * 3 + 61.25, "3d1m1.25s"),
        (59.9999, "1m"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [-1, -0.001, math.nan, math.inf, True])
def test_format_refuses_what_is_not_a_duration(value: float) -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(value)


seconds = st.floats(min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False)
whole_millis = st.integers(min_value=0, max_value=10**12).map(lambda ms: ms / 1000)


@given(seconds)
def test_format_then_parse_is_rounding_to_the_millisecond(x: float) -> None:
    assert parse_duration(format_duration(x)) == round(x, 3)


@given(whole_millis)
def test_whole_milliseconds_round_trip_exactly(x: float) -> None:
    assert parse_duration(format_duration(x)) == x


@given(whole_millis)
def test_format_is_a_fixed_point(x: float) -> None:
    text = format_duration(x)
    assert format_duration(parse_duration(text)) == text


parts = st.tuples(st.integers(0, 10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))


@given(st.lists(parts, min_size=1), st.sampled_from(["", " ", "  "]))
def test_parts_add_up_in_any_order(parts: list[tuple[int, str]], sep: str) -> None:
    size = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    text = sep.join(f"{n}{unit}" for n, unit in parts)
    expected = sum(n * size[unit] for n, unit in parts) / 1000
    assert parse_duration(text) == expected
