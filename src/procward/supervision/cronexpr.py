"""Cron expressions for ``cron_restart``: five fields in, the next local time out.

Our own parser rather than a library (decision 0041): ``croniter`` was
announced unmaintained in 2024, and ``cronsim`` (small, maintained) runs a
time that a DST jump skips right after the jump, where we promise the
opposite. What is read is Vixie cron's language, nothing more:

- ``minute hour day-of-month month day-of-week``; each field ``*``, a
  number, a range ``1-5``, a step ``*/15`` or ``1-30/5``, or a list of those
  ``1,2,10-12``; months ``jan``-``dec`` and weekdays ``sun``-``sat`` by
  name; weekday 0 and 7 are both Sunday.
- When both day fields are restricted (neither starts with ``*``), a day
  matching *either* runs (Vixie's rule): ``0 3 1 * mon`` is the 1st and
  every Monday.
- ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
  (``@midnight``), ``@hourly``.

Times are wall-clock times of a time zone (the daemon's own). Across DST:
a time the clocks jump over does not happen, so it is not run; a time the
clocks pass twice runs once, at its first passing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import NamedTuple

__all__ = ["ALIASES", "CronExpr", "next_after", "parse_cron"]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names from ``low``)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # at most
_SEARCH_DAYS = 366 * 8 + 2  # Feb 29 comes at least once in 8 years


class CronExpr(NamedTuple):
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    any_day: bool  # day of month is ``*...``
    any_weekday: bool  # day of week is ``*...``

    def runs_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:  # one unrestricted: both must match
            return by_day and by_weekday
        return by_day or by_weekday


def parse_cron(text: str) -> CronExpr:
    """The expression ``text``; ``ValueError`` saying which field is wrong and why."""
    spelled = ALIASES.get(text.strip().lower(), text) if text.strip().startswith("@") else text
    if spelled.strip().startswith("@"):
        raise ValueError(f"unknown alias {text.strip()!r} (known: {', '.join(ALIASES)})")
    parts = spelled.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"has {len(parts)} fields, a cron expression has 5")
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    cron = CronExpr(
        text=text.strip(),
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    if cron.any_weekday and not any(min(cron.days) <= _MONTH_DAYS[m - 1] for m in cron.months):
        raise ValueError("names a day that none of its months has: it would never run")
    return cron


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    found: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        step = _number(step_text, name, 1, high - low + 1, ()) if slash else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(a, name, low, high, names), _number(b, name, low, high, names)
            if first > last:
                raise ValueError(f"{name}: range {span!r} runs backwards")
        else:
            first = _number(span, name, low, high, names)
            last = high if slash else first  # ``5/15``: from 5 to the end, as Vixie reads it
        found.update(range(first, last + 1, step))
    return found


def _number(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + low
    if not text.isascii() or not text.isdigit():
        hint = f" or a name like {names[0]!r}" if names else ""
        raise ValueError(f"{name}: {text!r} is not a number{hint}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is out of range {low}-{high}")
    return value


def next_after(cron: CronExpr, after: datetime, zone: tzinfo) -> datetime:
    """The first time ``cron`` runs strictly after ``after`` (aware), in ``zone``."""
    local = after.astimezone(zone)
    floor = after.timestamp()  # compared as instants: within one zone, ``>`` ignores ``fold``
    start = local.replace(second=0, microsecond=0, tzinfo=None)
    day = start.date()
    for _ in range(_SEARCH_DAYS):
        if cron.runs_on(day):
            for hour in cron.hours:
                for minute in cron.minutes:
                    wall = datetime.combine(day, time(hour, minute))
                    if wall < start:
                        continue
                    when = _happens(wall, zone)
                    if when is not None and when.timestamp() > floor:
                        return when
        day += timedelta(days=1)
    raise ValueError(f"{cron.text!r} does not run in the next eight years")  # parse_cron refuses


def _happens(wall: datetime, zone: tzinfo) -> datetime | None:
    """``wall`` as a time of ``zone``: its first passing, or None if the clocks skip it."""
    first = wall.replace(tzinfo=zone, fold=0)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return first if back == wall else None
