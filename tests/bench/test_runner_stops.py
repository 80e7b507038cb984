"""A scenario stopped by an error costs only its own rows: the run goes on and says so."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from bench.supervision import Plan
from bench.systems import AppSystemFactory

from bench import runner


def test_a_scenario_that_fails_is_a_failed_check_and_the_next_one_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []

    def timed_out(systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan):
        ran.append("timed_out")
        raise TimeoutError("timed out")

    def fine(systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan):
        ran.append("fine")
        return []

    monkeypatch.setattr(runner, "SUPERVISION_SCENARIOS", {"scale": timed_out, "churn": fine})
    cfg = runner.parse(["--quick", "--scenario", "scale", "--scenario", "churn"])
    sections, _warnings, _measured = runner.measure(cfg, runner.child_environment())
    assert ran == ["timed_out", "fine"]
    [stopped] = [check for section in sections for check in section.checks]
    assert (stopped.what, stopped.ok) == ("scale", False)
    assert stopped.measured == "stopped: timed out"
