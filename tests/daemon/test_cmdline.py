"""Command strings run as a shell user expects (issue 10, item 14)."""

from __future__ import annotations

from collections.abc import Callable

from procward.kit._client import Client
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, wait_state


def _said(client: Client, name: str) -> list[str]:
    logs = client.call("getLogs", name=name, lines=10, stream="out")
    return [line.rstrip("\n") for line in logs[0]["lines"]]


def test_shell_syntax_in_a_string_is_run_by_a_shell(daemon: Client, load_apps: LoadApps) -> None:
    load_apps("""
        [apps.script]
        cmd = "echo hi; exit 7"
        restart = "never"
        min_start = "0s"

        [apps.quoted]
        cmd = "sh -c 'X=1; echo got $X; exec sleep 1000'"

        [apps.literal]
        cmd = "echo '$HOME' 'a;b'"
        restart = "never"
        min_start = "0s"
    """)
    wait_state(daemon, "script", "exited")
    [inst] = app_instances(daemon, "script")
    assert inst["exit_code"] == 7
    assert wait_for(lambda: _said(daemon, "script") or None) == ["hi"]
    wait_state(daemon, "quoted", "running")
    assert wait_for(lambda: _said(daemon, "quoted") or None) == ["got 1"]
    wait_state(daemon, "literal", "exited")
    assert wait_for(lambda: _said(daemon, "literal") or None) == ["$HOME a;b"]


def test_the_arguments_of_an_adhoc_start_are_run_as_given(
    daemon: Client, cli: Callable[..., Result]
) -> None:
    started = cli("start", "--name", "t", "--", "sh", "-c", "X=2; echo got $X; exec sleep 1000")
    assert started.code == 0, started.err
    wait_state(daemon, "t", "running")
    assert wait_for(lambda: _said(daemon, "t") or None) == ["got 2"]
