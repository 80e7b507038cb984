"""Readers of config values: one value in, the checked value out, or a ``ValueError``.

Shared by every table of ``procward.toml`` (``config.py`` for an app's keys,
``probe.py`` for its ``ready`` and ``health`` tables), so a bad duration, a
bad command or an unknown key reads the same wherever it is. Each reader
takes ``(value, base_dir)``; messages quote values as TOML spells them.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from procward.kit._durations import parse_duration

E = TypeVar("E", bound=enum.StrEnum)

__all__ = [
    "Nested",
    "close_match",
    "did_you_mean",
    "read_choice",
    "read_cmd",
    "read_count",
    "read_duration",
    "read_flag",
    "read_path",
    "read_size",
    "read_table",
    "show",
    "unknown_key",
]


class Nested(ValueError):
    """Problems inside a table value (``backoff``, ``env``), located by their sub-key."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def unknown_key(key: str, known: Iterable[str], where: str) -> str:
    """Why ``key`` is refused, with the key that was meant when that can be told.

    A key of another supervisor (supervisord, PM2, Circus) gets procward's
    answer to it; a slip of the keyboard gets the key it missed; anything
    else gets the list of keys.
    """
    from procward.supervision.otherkeys import answer  # only with a mistake to explain

    choices = list(known)
    said = answer(key) if key not in choices else None
    if said is not None:
        return f"unknown key; {said}"
    close = close_match(key, choices)
    if close is not None:
        return f"unknown key; did you mean {close!r}?"
    return f"unknown key; the keys of {where} are: {', '.join(choices)}"


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = close_match(value, list(choices))
    return f" (did you mean {close!r}?)" if close is not None else ""


def close_match(typed: str, choices: Iterable[str]) -> str | None:
    """The choice ``typed`` is a slip for, if any: a typo, words swapped or one left out.

    Not a mere likeness: ``max_memory_restart`` shares most letters with
    ``max_restarts`` but means something else, so it matches nothing.
    """
    words = _words(typed)
    best: tuple[int, str] | None = None
    for choice in choices:
        theirs = _words(choice)
        if sorted(words) == sorted(theirs) or (len(words) > 1 and set(words) < set(theirs)):
            distance = 0  # the same words, or all of them from a longer name
        else:
            distance = _edits(typed.lower(), choice.lower())
            if distance > max(1, len(typed) // 4):
                continue
        if best is None or distance < best[0]:
            best = (distance, choice)
    return best[1] if best is not None else None


def _words(name: str) -> list[str]:
    return [w for w in name.lower().replace("-", "_").split("_") if w]


def _edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours from ``a`` to ``b``."""
    before: list[int] | None = None
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            swapped = i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]
            if swapped and before is not None:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
    return row[len(b)]


def show(value: object) -> str:
    """A value as the message should quote it: TOML's spelling, not Python's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def read_cmd(value: object, _base_dir: str) -> tuple[str, ...]:
    if isinstance(value, str):
        from procward.supervision.cmdline import to_argv

        try:
            argv = list(to_argv(value))
        except ValueError as e:
            raise ValueError(f"cannot be split into arguments: {e}") from None
    elif isinstance(value, list):
        for i, arg in enumerate(value):
            if not isinstance(arg, str):
                raise ValueError(f"item {i} must be a string, got {show(arg)}")
        argv = value
    else:
        raise ValueError(f"must be a command line or an array of strings, got {show(value)}")
    if not argv or not argv[0]:
        raise ValueError("must name a program to run, got an empty command")
    if any("\0" in arg for arg in argv):
        raise ValueError("must not contain NUL characters")
    return tuple(argv)


def read_count(value: object, _base_dir: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {show(value)}")
    return value


def read_flag(value: object, _base_dir: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {show(value)}")
    return value


def read_path(value: object, base_dir: str) -> str:
    """A path; a relative one is relative to ``base_dir`` (the config file's directory)."""
    if not isinstance(value, str):
        raise ValueError(f"must be a path (a string), got {show(value)}")
    if not value or "\0" in value:
        raise ValueError(f"must be a non-empty path without NUL characters, got {value!r}")
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base_dir, value))


def read_duration(value: object, _base_dir: str) -> float:
    if not isinstance(value, str | int | float):
        raise ValueError(f"must be a duration like '15s' or a number of seconds, got {show(value)}")
    return parse_duration(value)


def read_choice(kind: type[E]) -> Callable[[object, str], E]:
    """A reader for one of the values of the string enum ``kind``."""
    choices = [member.value for member in kind]

    def read(value: object, _base_dir: str) -> E:
        if isinstance(value, str) and value in choices:
            return kind(value)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"must be one of {listed}, got {show(value)}{hint}")

    return read


def read_table(
    value: object,
    readers: Mapping[str, Callable[[object, str], object]],
    base_dir: str,
    *,
    where: str,
) -> dict[str, object]:
    """Each key of a table through its reader; ``Nested`` with every problem at once."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table, got {show(value)}")
    found: dict[str, object] = {}
    problems = []
    for key, item in value.items():
        reader = readers.get(key)
        if reader is None:
            problems.append((key, unknown_key(key, readers, where)))
            continue
        try:
            found[key] = reader(item, base_dir)
        except ValueError as e:
            problems.append((key, str(e)))
    if problems:
        raise Nested(problems)
    return found


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
}


def read_size(value: object) -> int:
    """Bytes from 1048576, "512KB", "10MB" or "1GiB" (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
        unit = text[len(digits) :].strip()
        try:
            number = float(digits)
        except ValueError:
            number = -1.0
        if unit in _SIZE_UNITS and number > 0:
            return max(1, int(number * _SIZE_UNITS[unit]))
    raise ValueError(
        f"must be a size like '10MB' or '512KB', or a number of bytes, got {show(value)}"
    )
