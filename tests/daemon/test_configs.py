"""Loading and reloading config files (daemon/parts/configs.py; issue 10, items 6 and 7)."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit._errors import InvalidParams
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import WriteConfig, app_instances, state_of, wait_state

FAST = 'backoff = { initial = "50ms", multiplier = 2, max = "50ms" }\nmin_start = "0s"'


def test_a_reload_does_not_start_a_crashed_or_stopped_app_again(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result]
) -> None:
    body = f"""
        [apps.crasher]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 1
        {FAST}
        [apps.stopped]
        cmd = ["sleep", "1000"]
        [apps.web]
        cmd = ["sleep", "1000"]
    """
    path = write_config(body)
    assert cli("up", "-c", path).code in (0, 1)
    wait_state(daemon, "crasher", "crashed")
    restarts = app_instances(daemon, "crasher")[0]["restarts"]
    daemon.call("stopApp", name="stopped")
    write_config(body + '\n[apps.new]\ncmd = ["sleep", "1000"]\n')
    result = cli("reload")
    assert result.code == 0, result.err
    assert "added: new\n" in result.out and "started: new\n" in result.out
    assert state_of(daemon, "crasher") == "crashed"
    assert app_instances(daemon, "crasher")[0]["restarts"] == restarts
    assert state_of(daemon, "stopped") == "stopped"
    wait_state(daemon, "new", "running")
    # A new definition is a reason to try again.
    write_config(
        body.replace("exit 3", "exec sleep 1000") + '\n[apps.new]\ncmd = ["sleep", "1000"]\n'
    )
    result = cli("reload")
    assert "changed: crasher\n" in result.out and "started: crasher\n" in result.out
    wait_state(daemon, "crasher", "running")
    assert state_of(daemon, "stopped") == "stopped"


def test_an_app_in_two_files_is_a_conflict_naming_both(
    daemon: Client, home: str, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    first, second = _write(home, "a.toml", "one"), _write(home, "b.toml", "two")
    assert cli("up", "-c", first).code == 0
    wait_state(daemon, "web", "running")
    result = cli("up", "-c", second)
    assert result.code != 0
    assert f"{second}: apps.web: is defined in {first} too" in result.err
    spec = daemon.call("getApp", name="web")
    assert spec["source"] == first and spec["spec"]["env"] == {"WHO": "one"}
    # The file moved: the old one no longer has it, so the new one may take it.
    os.unlink(first)
    assert cli("up", "-c", second).code == 0
    assert daemon.call("getApp", name="web")["source"] == second


def test_a_reload_with_an_app_in_two_files_changes_nothing(
    daemon: Client, home: str, cli: Callable[..., Result]
) -> None:
    first = _write(home, "a.toml", "one")
    second = _write(home, "b.toml", "two", app="api")
    assert cli("up", "-c", first).code == 0
    assert cli("up", "-c", second).code == 0
    _write(home, "b.toml", "two", app="api", also_web=True)
    for _ in range(2):  # it used to flip between the two definitions at every reload
        result = cli("reload")
        assert result.code != 0
        assert f"{second}: apps.web: is defined in {first} too" in result.err
        assert daemon.call("getApp", name="web")["spec"]["env"] == {"WHO": "one"}
    try:
        daemon.call("reloadConfig")
    except InvalidParams as exc:
        assert exc.data["problems"][0]["app"] == "web"
    else:
        raise AssertionError("reloadConfig accepted an app defined twice")


def _write(home: str, name: str, who: str, *, app: str = "web", also_web: bool = False) -> str:
    path = os.path.join(home, name)
    body = f"""
        [apps.{app}]
        cmd = ["sleep", "1000"]
        env = {{ WHO = "{who}" }}
    """
    if also_web:
        body += """
        [apps.web]
        cmd = ["sleep", "1000"]
        env = { WHO = "other" }
        """
    with open(path, "w") as f:
        f.write(textwrap.dedent(body))
    return path


def test_an_app_runs_next_to_its_config_file(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str
) -> None:
    with open(os.path.join(home, "app.py"), "w") as f:
        f.write("import os, time\nprint('here:', os.getcwd(), flush=True)\ntime.sleep(1000)\n")
    path = write_config(f"""
        [apps.web]
        cmd = "{sys.executable} app.py"
    """)
    elsewhere = cli("up", "-c", path, cwd="/")  # wherever the command runs
    assert elsewhere.code == 0, elsewhere.err
    wait_state(daemon, "web", "running")
    logs = wait_for(lambda: daemon.call("getLogs", name="web", stream="out")[0]["lines"] or None)
    assert logs == [f"here: {home}"]


def test_a_typo_of_100000_instances_is_refused(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result]
) -> None:
    path = write_config("""
        [apps.web]
        cmd = ["sleep", "1000"]
        instances = 100000
    """)
    result = cli("up", "-c", path)
    assert result.code == 1
    assert "apps.web.instances: 100000 is more than max_instances (256)" in result.err
    assert daemon.call("list") == []
    write_config("""
        [procward]
        max_instances = 3
        [apps.web]
        cmd = ["sleep", "1000"]
        instances = 2
    """)
    assert cli("up", "-c", path).code == 0
    result = cli("scale", "web", "100000")
    assert result.code == 1
    assert "100000 instances of web is more than max_instances (3)" in result.err
    assert len(daemon.call("getApp", name="web")["instances"]) == 2
    adhoc = cli("start", "--name", "many", "--instances", "5000", "--", "sleep", "1000")
    assert adhoc.code == 1 and "more than max_instances (256)" in adhoc.err
