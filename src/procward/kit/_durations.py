"""Durations as people write them in config files: ``"500ms"``, ``"15s"``, ``"1m30s"``.

One parser for every duration a daemon reads (timeouts, backoff, windows), so
``"1m 30s"`` means the same thing everywhere and every bad value gets the same
message listing the accepted forms.

- A number is seconds (``10``, ``0.25``); a string with no unit is seconds too
  (``"10"``), as in systemd. Bools, negatives, NaN and infinities are refused.
- A string is one or more ``<number><unit>`` parts, optionally separated by
  spaces, summed: ``"1m30s"``, ``"1m 30s"``, ``"1.5s"``. Units are ``us``,
  ``ms``, ``s``, ``m``, ``h`` and ``d``, lower case only (``"1M"`` could be a
  month to someone).

Parts are summed as exact fractions and converted to ``float`` once, so
``"1m30.5s"`` is exactly ``90.5``; that is what lets ``format_duration`` promise
``parse_duration(format_duration(x)) == round(x, 3)``.

Not on the CLI's start-up path, hence ``re`` and ``fractions``.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration"]

# Exact arithmetic in integers (microseconds over a power of ten), not
# `fractions.Fraction`: that module pulls in `decimal`, half a megabyte of a
# daemon whose whole budget is 22 MiB.
_UNITS_US = {
    "us": 1,
    "ms": 1000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"({_NUMBER})\s*(us|ms|s|m|h|d)", re.ASCII)
_WHOLE = re.compile(rf"\s*(?:{_PART.pattern}\s*)+", re.ASCII)
_BARE = re.compile(rf"\s*{_NUMBER}\s*", re.ASCII)
_FORMS = (
    "use a number of seconds >= 0, or a string like '500ms', '15s', '1m30s', '1.5s', '2h' "
    "(units: us, ms, s, m, h, d)"
)


def parse_duration(value: str | int | float, *, what: str = "duration") -> float:
    """Seconds in ``value``; ``ValueError`` naming the value and the accepted forms."""
    if isinstance(value, str):
        seconds = _parse_text(value, what)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = _checked_number(value, what)
    else:
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        raise ValueError(f"invalid {what} {value!r} ({kind}): {_FORMS}")
    return seconds + 0.0  # -0.0 becomes 0.0


def format_duration(seconds: float) -> str:
    """The shortest readable form, to the millisecond: ``500ms``, ``1.5s``, ``1m30s``, ``2h``."""
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration: need a finite number >= 0")
    millis = _exact_round(float(seconds), 1000)  # exact, half to even like round(x, 3)
    if millis == 0:
        return "0s"
    rest, ms = divmod(millis, 1000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest and ms:
        parts.append(f"{rest}.{ms:03d}".rstrip("0") + "s")
    elif rest:
        parts.append(f"{rest}s")
    elif ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


def _exact_round(value: float, scale: int) -> int:
    """``round(value * scale)`` computed exactly on the float's true value, half to even."""
    num, den = value.as_integer_ratio()
    whole, rest = divmod(num * scale, den)
    if 2 * rest > den or (2 * rest == den and whole % 2):
        whole += 1
    return whole


def _decimal(number: str) -> tuple[int, int]:
    """``"1.25"`` -> ``(125, 100)``: the exact value as integer over a power of ten."""
    head, _, tail = number.partition(".")
    return int((head or "0") + tail), 10 ** len(tail)


def _parse_text(text: str, what: str) -> float:
    if _BARE.fullmatch(text):
        parts = [(text.strip(), "s")]
    elif _WHOLE.fullmatch(text):
        parts = _PART.findall(text)
    else:
        raise ValueError(f"invalid {what} {text!r}{_why_not(text)}: {_FORMS}")
    den = 10 ** max(len(number.partition(".")[2]) for number, _ in parts)
    total_us: int = 0  # in units of 1/den microsecond
    for number, unit in parts:
        num, own = _decimal(number)
        total_us += num * (den // own) * _UNITS_US[unit]
    try:
        seconds: float = total_us / (den * 1_000_000)  # int / int rounds correctly
        return seconds
    except OverflowError:
        raise ValueError(f"invalid {what} {text!r} (too large): {_FORMS}") from None


def _why_not(text: str) -> str:
    if not text.strip():
        return " (empty)"
    if text.strip().startswith("-"):
        return " (negative)"
    return ""


def _checked_number(value: int | float, what: str) -> float:
    try:
        seconds = float(value)
    except OverflowError:
        raise ValueError(f"invalid {what} {value!r} (too large): {_FORMS}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"invalid {what} {value!r} (not finite): {_FORMS}")
    if seconds < 0:
        raise ValueError(f"invalid {what} {value!r} (negative): {_FORMS}")
    return seconds
