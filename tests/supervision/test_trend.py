"""The trend behind the dashboard's sparklines: a bounded ring, apps coming and going."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from procward.supervision.trend import Trend


def test_the_ring_keeps_the_last_points_oldest_first() -> None:
    trend = Trend(points=3)
    for t in range(5):
        trend.record(float(t), {"web": (t * 1.25, t * 1000)})
    slots = trend.slots()
    assert [trend.times[s] for s in slots] == [2.0, 3.0, 4.0]
    assert trend.series("web", slots) == ([2.5, 3.8, 5.0], [2000.0, 3000.0, 4000.0])
    assert [trend.times[s] for s in trend.slots(after=3.0)] == [4.0]


def test_an_app_that_came_late_has_gaps_and_one_that_left_is_forgotten() -> None:
    trend = Trend(points=4)
    trend.record(1.0, {"old": (1.0, 10)})
    trend.record(2.0, {"old": (2.0, 20), "new": (None, 30)})
    trend.record(3.0, {"new": (3.0, 40)})
    assert set(trend.apps) == {"new"}
    assert trend.series("new", trend.slots()) == ([None, None, 3.0], [None, 30.0, 40.0])


@given(st.lists(st.integers(0, 50), max_size=200), st.integers(1, 70))
def test_whatever_is_recorded_the_trend_holds_at_most_its_points(
    apps: list[int], points: int
) -> None:
    trend = Trend(points=points)
    for t, count in enumerate(apps):
        trend.record(float(t), {f"a{i}": (1.0, 1) for i in range(count)})
        slots = trend.slots()
        assert len(slots) == min(t + 1, points)
        assert [trend.times[s] for s in slots] == sorted(trend.times[s] for s in slots)
        assert all(len(cpu) == points for cpu, _ in trend.apps.values())
