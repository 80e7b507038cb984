"""The uptime history on its own, with a clock the tests move: no processes."""

from __future__ import annotations

import json

import pytest

from procward.supervision.uptime import DAY, DOWN, KEEP_DAYS, PARTIAL, UP, UptimeHistory

MIDNIGHT = 20_000 * DAY  # 2024-10-04 00:00 UTC, a day boundary


def day_of(history: UptimeHistory, name: str, day: int) -> list[float]:
    return history.days[name][day]


def test_time_goes_to_what_the_app_was() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT + 10)
    h.note("web", DOWN, now=MIDNIGHT + 70)
    h.note("web", PARTIAL, now=MIDNIGHT + 75)
    h.note("web", UP, now=MIDNIGHT + 80)
    h.settle(now=MIDNIGHT + 100)
    assert day_of(h, "web", 20_000) == [80.0, 5.0, 5.0]


def test_the_same_availability_again_changes_nothing() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT)
    h.note("web", UP, now=MIDNIGHT + 50)
    assert h.current["web"] == (UP, MIDNIGHT)


def test_a_stretch_over_midnight_is_split_between_the_days() -> None:
    h = UptimeHistory()
    h.note("web", DOWN, now=MIDNIGHT - 30)
    h.note("web", UP, now=MIDNIGHT + 2 * DAY + 20)
    assert day_of(h, "web", 19_999) == [0.0, 0.0, 30.0]
    assert day_of(h, "web", 20_000) == [0.0, 0.0, float(DAY)]
    assert day_of(h, "web", 20_001) == [0.0, 0.0, float(DAY)]
    assert day_of(h, "web", 20_002) == [0.0, 0.0, 20.0]


def test_stopped_apps_and_a_stopped_daemon_are_not_counted() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT)
    h.note("web", None, now=MIDNIGHT + 10)  # stopped on purpose
    h.note("web", UP, now=MIDNIGHT + 100)
    h.pause(now=MIDNIGHT + 110)  # the daemon stops: what it does now is not downtime
    h.note("web", DOWN, now=MIDNIGHT + 111)
    h.settle(now=MIDNIGHT + 500)
    assert day_of(h, "web", 20_000) == [20.0, 0.0, 0.0]


def test_the_report_shows_each_day_and_the_share_up() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT - DAY + 100)
    h.note("web", DOWN, now=MIDNIGHT - DAY + 190)
    h.note("web", UP, now=MIDNIGHT - DAY + 200)
    [web] = h.report(["web"], days=3, now=MIDNIGHT + 100)
    assert [d["day"] for d in web["days"]] == ["2024-10-02", "2024-10-03", "2024-10-04"]
    assert web["days"][0] == {"day": "2024-10-02", "up": None, "partial": None, "down": None}
    assert web["days"][1]["down"] == 10.0 and web["days"][2]["up"] == 100.0
    assert web["counted"] == DAY - 100 + 100
    assert web["uptime"] == pytest.approx(1 - 10 / DAY, abs=1e-6)
    assert web["now"] == "up"
    [never] = h.report(["new"], days=1, now=MIDNIGHT)
    assert never["uptime"] is None and never["now"] is None


def test_days_older_than_the_retention_go() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT)
    h.note("web", None, now=MIDNIGHT + 60)
    h.note("gone", UP, now=MIDNIGHT)
    h.note("gone", None, now=MIDNIGHT + 60)
    h.note("web", UP, now=MIDNIGHT + KEEP_DAYS * DAY)
    h.settle(now=MIDNIGHT + KEEP_DAYS * DAY + 1)
    assert list(h.days["web"]) == [20_000 + KEEP_DAYS]
    assert "gone" not in h.days and h.known() == ["web"]


def test_the_file_form_round_trips_and_bad_files_are_refused() -> None:
    h = UptimeHistory()
    h.note("web", PARTIAL, now=MIDNIGHT)
    h.settle(now=MIDNIGHT + 12.34)
    again = UptimeHistory()
    again.load(json.loads(json.dumps(h.to_json())))
    assert again.days == {"web": {20_000: [0.0, 12.3, 0.0]}}
    for bad, why in [
        ([], "not an uptime history"),
        ({"format": 2, "apps": {}}, "not an uptime history"),
        ({"format": 1, "apps": []}, "'apps' must be a table"),
        ({"format": 1, "apps": {"web": [1]}}, "web: must be a table of days"),
        ({"format": 1, "apps": {"web": {"1": [1, 2]}}}, r"web: day 1: must be \[up, partial"),
        ({"format": 1, "apps": {"web": {"1": [1, 2, -3]}}}, "web: day 1"),
        ({"format": 1, "apps": {"web": {"1": [1, 2, DAY + 1]}}}, "web: day 1"),
    ]:
        with pytest.raises(ValueError, match=why):
            UptimeHistory().load(bad)
    with pytest.raises(ValueError, match="invalid literal"):
        UptimeHistory().load({"format": 1, "apps": {"web": {"monday": [1, 2, 3]}}})


def test_a_forgotten_app_is_gone_from_the_history_and_the_file() -> None:
    h = UptimeHistory()
    h.note("web", UP, now=MIDNIGHT)
    h.note("db", UP, now=MIDNIGHT)
    h.settle(now=MIDNIGHT + 10)
    h.dirty = False
    h.forget("web")  # deleted
    assert h.known() == ["db"] and h.dirty
    assert list(h.to_json()["apps"]) == ["db"]
    h.settle(now=MIDNIGHT + 20)
    assert h.known() == ["db"]
