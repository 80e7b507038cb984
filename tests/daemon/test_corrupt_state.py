"""A state that cannot be trusted costs no app (issue 11, items 13 and 11; decision 0031).

Both ``state.json`` and ``state.json.bak`` unreadable after a kill -9: the
daemon refuses to start and touches nothing (the apps run on, the files stay
as they are) until an operator decides; ``procward kill`` ends the apps and
sets the files aside. One app of ``state.json`` that cannot be restored is
reported, and the others come back as they were.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit._control import wait_exit
from procward.kit._paths import InstancePaths

from ..conftest import Result
from .conftest import alive, kill_9, start_sleepers, wait_state

GARBAGE = b"{ this is not json"


def test_unreadable_state_and_backup_keep_the_apps_and_stop_the_start(
    cli: Callable[..., Result], paths: InstancePaths
) -> None:
    [web] = start_sleepers(cli, paths, "web")
    kill_9(paths)
    for name in (paths.state, paths.state + ".bak"):
        with open(name, "wb") as f:
            f.write(GARBAGE)
    for _ in range(2):  # a read-only command, twice: it ends nothing and says why
        result = cli("status")
        assert alive(web), "a status killed the apps"
        assert result.code != 0
        assert "Not starting, and nothing touched" in result.err, result.err
        assert "procward kill" in result.err
        assert "1 process group of the last daemon still running" in result.err
    for name in (paths.state, paths.state + ".bak"):
        with open(name, "rb") as f:
            assert f.read() == GARBAGE, f"{name} was changed"
    # The operator's decision: end the apps; the files are kept aside, by time.
    result = cli("kill")
    assert result.code == 0, result.err
    assert wait_exit(web, 5)
    assert not os.path.exists(paths.state) and not os.path.exists(paths.state + ".bak")
    aside = sorted(glob.glob(paths.state + "*.corrupt-*"))
    assert len(aside) == 2, aside
    for name in aside:
        with open(name, "rb") as f:
            assert f.read() == GARBAGE
    result = cli("status")
    assert result.code == 0, result.err
    assert "no apps" in result.out
    assert cli("down").code == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cmd", ["\ud800"]),  # parses (today), but no exec can take it: its spawn raises
        ("instances", "many"),  # no longer a valid spec (a newer procward checks more)
    ],
)
def test_an_app_that_cannot_be_restored_costs_only_itself(
    cli: Callable[..., Result], paths: InstancePaths, key: str, value: object
) -> None:
    start_sleepers(cli, paths, "bad", "good")
    kill_9(paths)
    with open(paths.state) as f:
        saved = json.load(f)
    [bad] = [a for a in saved["apps"] if a["spec"]["name"] == "bad"]
    bad["spec"][key] = value
    with open(paths.state, "w") as f:
        json.dump(saved, f)
    result = cli("status")
    with Client.open(paths.socket) as client:
        wait_state(client, "good", "running")
    assert "'bad' was not restored" in result.err, result.err
    assert result.code == 1
    assert "'bad' was not restored" in cli("status").err  # said until someone acts
    assert cli("down").code == 0
    with open(paths.state) as f:
        kept = [a["spec"] for a in json.load(f)["apps"]]
    assert {s["name"] for s in kept} == {"bad", "good"}, "the bad entry was lost"
    assert cli("delete", "bad").code == 0  # until the operator says otherwise
    assert "was not restored" not in cli("status").err
    assert cli("down").code == 0
    with open(paths.state) as f:
        assert [a["spec"]["name"] for a in json.load(f)["apps"]] == ["good"]
