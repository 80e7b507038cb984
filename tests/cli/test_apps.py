"""The commands that change apps (``procward.cli.apps``): one call, its reply rendered.

Each runs in this process against a real daemon, with ``Client.call``
counted: a command that asks for ``status`` after its change (as ``stop``
and ``reload`` once did) shows a second call here and fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from procward.cli.main import main
from procward.kit._client import Client
from procward.kit._errors import InvalidParams, MethodNotFound
from procward.kit.testing import wait_for

from ..daemon.conftest import LoadApps, wait_state

APPS = """
    [apps.db]
    cmd = ["sleep", "1000"]
    min_start = "0s"

    [apps.web]
    cmd = ["sleep", "1000"]
    min_start = "0s"
    depends_on = ["db"]
"""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The methods the CLI calls, in order, from when the fixture is asked for."""
    made: list[str] = []
    real = Client.call

    def counted(self: Client, method: str, *args: Any, **kwargs: Any) -> Any:
        made.append(method)
        return real(self, method, *args, **kwargs)

    monkeypatch.setattr(Client, "call", counted)
    yield made


@pytest.fixture
def two_apps(daemon: Client, load_apps: LoadApps) -> Client:
    load_apps(APPS)
    wait_state(daemon, "web", "running")
    return daemon


@pytest.mark.parametrize(
    "case",
    [
        (["stop", "db"], ["stopApp"], ["db", "web"]),  # its dependent too
        (["stop", "all"], ["stopAll"], ["db", "web"]),
        (["start", "web"], ["startApp"], ["db", "web"]),
        (["start", "all"], ["startAll"], ["db", "web"]),
        (["restart", "web"], ["restartApp"], ["web"]),
        (["restart", "all"], ["restartAll"], ["db", "web"]),
        (["reload", "db"], ["reloadApp"], ["db"]),
        (["reload", "all"], ["reloadAll"], ["db", "web"]),
        (["scale", "web", "2"], ["scale"], ["web", "web"]),
        (["reload"], ["reloadConfig"], ["db", "web"]),
    ],
)
def test_a_change_is_one_call_and_its_reply_is_the_table(
    two_apps: Client,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], list[str], list[str]],
) -> None:
    argv, methods, shown = case  # the command, the methods it calls, the apps it shows
    assert main(argv) == 0
    assert calls == methods
    rows = capsys.readouterr().out.splitlines()
    header = next(i for i, row in enumerate(rows) if row.split()[:1] == ["NAME"])
    assert [row.split()[0] for row in rows[header + 1 :]] == shown


def test_json_prints_the_reply_as_received(
    two_apps: Client, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--json", "stop", "db"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert [(a["name"], a["desired"]) for a in reply["apps"]] == [
        ("db", "stopped"),
        ("web", "stopped"),
    ]
    assert calls == ["stopApp"]


def test_up_and_network_render_their_replies_without_status(
    two_apps: Client, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up"]) == 0
    assert main(["network"]) == 0
    assert "status" not in calls
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("procward is running (pid ")
    assert out[1:] == ["tcp:  off", "http: off"]


def test_stop_all_by_its_app_method_is_refused_with_the_all_method(two_apps: Client) -> None:
    assert main(["stop", "all"]) == 0  # the CLI's `all` is stopAll
    refused = "stopApp takes one app's name; for every app call stopAll"
    with pytest.raises(InvalidParams, match=refused):
        two_apps.call("stopApp", name="all")


MANY_KINDS = """
    [apps.plain]
    cmd = ["sleep", "1000"]
    instances = 2
    min_start = "0s"

    [apps.probed]
    cmd = ["sleep", "1000"]
    ready = { delay = "50ms" }
    health = { exec = "false", interval = "100ms", failures = 1000000 }  # never restarted

    [apps.done]
    cmd = ["sh", "-c", "exit 3"]
    restart = "never"

    [apps.none]
    cmd = ["sleep", "1000"]
    instances = 0

    [apps.young]
    cmd = ["sleep", "1000"]
    min_start = "1h"
"""


def _both_tables(daemon: Client, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The table from ``statusTable`` and from ``status``, of one moment (``now``)."""
    from procward.cli import render
    from procward.replies import DaemonStatus, StatusTable

    table = StatusTable.from_dict(daemon.call("statusTable"))
    full = DaemonStatus.from_dict(daemon.call("status"))
    assert table.healthy == full.healthy
    assert table.instances.held == [app.name for app in full.apps if app.held]
    render.instance_table(table.instances, now=1e10)
    from_table = capsys.readouterr().out
    render.app_table(full.apps, now=1e10)
    return from_table, capsys.readouterr().out


def test_status_prints_from_the_columns_what_it_prints_from_every_app_in_full(
    daemon: Client, load_apps: LoadApps, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decision 0051: ``statusTable`` sends the rows with nothing to say as columns and
    the others in full; the table is the same, row for row, note for note."""
    load_apps(MANY_KINDS)
    wait_state(daemon, "plain", "running", index=1)
    wait_state(daemon, "done", "exited")
    wait_for(lambda: "health check failing" in _both_tables(daemon, capsys)[0], what="a note")
    from_table, in_full = _both_tables(daemon, capsys)
    assert from_table == in_full
    for note in ("exit status 3", "no instances", "starting: not yet up for its min_start"):
        assert note in from_table
    daemon.call("setMetricsEnabled", {"enabled": True, "interval": 0.1})
    wait_for(lambda: "MEM" in _both_tables(daemon, capsys)[0], what="CPU and MEM columns")
    from_table, in_full = _both_tables(daemon, capsys)
    assert from_table == in_full


def test_status_is_one_call_of_the_table_and_asks_an_older_daemon_for_every_app(
    two_apps: Client,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["status"]) == 0
    assert calls == ["statusTable"]
    shown = capsys.readouterr().out.splitlines()[1:]  # after the daemon's line
    counted = Client.call

    def older(self: Client, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "statusTable":
            raise MethodNotFound(f"method not found: {method}")
        return counted(self, method, *args, **kwargs)

    monkeypatch.setattr(Client, "call", older)
    assert main(["status"]) == 0
    assert calls == ["statusTable", "status"]
    assert capsys.readouterr().out.splitlines()[1:] == shown
