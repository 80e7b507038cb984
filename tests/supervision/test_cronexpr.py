"""Cron expressions: fields, the day rule, names, aliases, errors, and next times across DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from procward.supervision.cronexpr import next_after, parse_cron

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def runs(text: str, start: datetime, count: int = 1) -> list[str]:
    """The next ``count`` times of ``text`` after ``start``, as local ISO strings."""
    cron, zone, found = parse_cron(text), start.tzinfo, []
    assert zone is not None
    when = start
    for _ in range(count):
        when = next_after(cron, when, zone)
        found.append(when.isoformat())
    return found


def test_a_daily_time_runs_at_that_time_then_the_next_day() -> None:
    start = datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN)
    assert runs("0 3 * * *", start, 2) == ["2026-06-02T03:00:00+02:00", "2026-06-03T03:00:00+02:00"]


def test_the_next_time_is_strictly_after() -> None:
    start = datetime(2026, 6, 1, 3, 0, tzinfo=BERLIN)
    assert runs("0 3 * * *", start) == ["2026-06-02T03:00:00+02:00"]
    assert runs("* * * * *", datetime(2026, 6, 1, 3, 0, 30, tzinfo=BERLIN)) == [
        "2026-06-01T03:01:00+02:00"
    ]


def test_steps_ranges_and_lists() -> None:
    start = datetime(2026, 6, 1, 0, 0, tzinfo=BERLIN)
    assert runs("*/15 * * * *", start, 3)[-1] == "2026-06-01T00:45:00+02:00"
    assert runs("1-30/10 9 * * *", start, 3) == [
        "2026-06-01T09:01:00+02:00",
        "2026-06-01T09:11:00+02:00",
        "2026-06-01T09:21:00+02:00",
    ]
    assert runs("0 8,17 * * *", start, 2) == [
        "2026-06-01T08:00:00+02:00",
        "2026-06-01T17:00:00+02:00",
    ]


def test_names_of_months_and_weekdays() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=BERLIN)  # a Thursday
    assert runs("0 0 1 mar *", start) == ["2026-03-01T00:00:00+01:00"]
    assert runs("0 9 * * MON-fri", start, 2) == [
        "2026-01-01T09:00:00+01:00",
        "2026-01-02T09:00:00+01:00",
    ]
    assert runs("0 9 * * sat", start) == ["2026-01-03T09:00:00+01:00"]


def test_sunday_is_0_and_7() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=BERLIN)
    assert runs("0 0 * * 0", start) == runs("0 0 * * 7", start) == ["2026-01-04T00:00:00+01:00"]


def test_both_day_fields_restricted_either_matches() -> None:
    """Vixie's rule: the 13th, and every Friday; not only Fridays the 13th."""
    start = datetime(2026, 2, 1, 0, 0, tzinfo=BERLIN)  # a Sunday
    assert runs("0 0 13 * fri", start, 3) == [
        "2026-02-06T00:00:00+01:00",
        "2026-02-13T00:00:00+01:00",  # both
        "2026-02-20T00:00:00+01:00",
    ]
    assert runs("0 0 10 * fri", start, 2) == [
        "2026-02-06T00:00:00+01:00",
        "2026-02-10T00:00:00+01:00",  # a Tuesday, by its day of month
    ]


def test_one_day_field_a_star_the_other_decides_alone() -> None:
    start = datetime(2026, 2, 1, 0, 0, tzinfo=BERLIN)
    assert runs("0 0 * * fri", start) == ["2026-02-06T00:00:00+01:00"]
    assert runs("0 0 10 * *", start) == ["2026-02-10T00:00:00+01:00"]
    # A step of a star is still a star (Vixie): days 1, 3, ... and Fridays, both
    assert runs("0 0 */2 * fri", start) == ["2026-02-13T00:00:00+01:00"]


def test_aliases() -> None:
    start = datetime(2026, 2, 4, 10, 30, tzinfo=BERLIN)  # a Wednesday
    assert runs("@hourly", start) == ["2026-02-04T11:00:00+01:00"]
    assert runs("@daily", start) == runs("@midnight", start) == ["2026-02-05T00:00:00+01:00"]
    assert runs("@weekly", start) == ["2026-02-08T00:00:00+01:00"]
    assert runs("@monthly", start) == ["2026-03-01T00:00:00+01:00"]
    assert runs("@yearly", start) == runs("@annually", start) == ["2027-01-01T00:00:00+01:00"]


def test_feb_29_waits_for_a_leap_year() -> None:
    start = datetime(2026, 3, 1, 0, 0, tzinfo=BERLIN)
    assert runs("0 0 29 2 *", start) == ["2028-02-29T00:00:00+01:00"]


def test_a_time_skipped_by_dst_is_not_run_berlin() -> None:
    """2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist."""
    start = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    assert runs("30 2 * * *", start, 2) == [
        "2026-03-30T02:30:00+02:00",  # not 03:30 on the 29th, and not twice on the 30th
        "2026-03-31T02:30:00+02:00",
    ]
    assert runs("0 3 * * *", start, 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T03:00:00+02:00",
    ]


def test_a_repeated_time_runs_once_at_its_first_passing_berlin() -> None:
    """2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice."""
    start = datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)
    assert runs("30 2 * * *", start, 2) == [
        "2026-10-25T02:30:00+02:00",  # the first (summer time) passing, only
        "2026-10-26T02:30:00+01:00",
    ]


def test_every_15_minutes_across_the_repeated_hour_runs_each_wall_time_once() -> None:
    start = datetime(2026, 10, 25, 1, 50, tzinfo=BERLIN)
    found = runs("*/15 * * * *", start, 6)
    assert found == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
        "2026-10-25T03:00:00+01:00",  # an hour of real time later: 02:xx again is skipped
        "2026-10-25T03:15:00+01:00",
    ]


def test_dst_new_york() -> None:
    """2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST."""
    spring = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    assert runs("30 2 * * *", spring) == ["2026-03-09T02:30:00-04:00"]
    autumn = datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)
    assert runs("30 1 * * *", autumn, 2) == [
        "2026-11-01T01:30:00-04:00",  # once, in daylight time
        "2026-11-02T01:30:00-05:00",
    ]
    # From inside the second passing of 01:xx, the first passing is in the past
    second = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NEW_YORK)
    assert runs("30 1 * * *", second) == ["2026-11-02T01:30:00-05:00"]


def test_a_start_in_another_zone_is_converted() -> None:
    start = datetime(2026, 6, 1, 0, 0, tzinfo=NEW_YORK)  # 06:00 in Berlin
    assert next_after(parse_cron("0 3 * * *"), start, BERLIN).isoformat() == (
        "2026-06-02T03:00:00+02:00"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0 3 * *", "has 4 fields"),
        ("0 3 * * * *", "has 6 fields"),
        ("60 3 * * *", "minute: 60 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 3 0 * *", "day of month: 0 is out of range 1-31"),
        ("0 3 * 13 *", "month: 13 is out of range 1-12"),
        ("0 3 * * 8", "day of week: 8 is out of range 0-7"),
        ("0 3 * * fry", "day of week: 'fry' is not a number or a name like 'sun'"),
        ("0 5-3 * * *", "hour: range '5-3' runs backwards"),
        ("*/0 * * * *", "minute: 0 is out of range 1-60"),
        ("1,,2 * * * *", "minute: '' is not a number"),
        ("0 0 31 feb,apr *", "names a day that none of its months has"),
        ("@reboot", "unknown alias '@reboot'"),
        ("", "has 0 fields"),
    ],
)
def test_errors_say_which_field_and_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="^" + __import__("re").escape(says)):
        parse_cron(text)
