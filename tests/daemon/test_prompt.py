"""The status file and `procward prompt`: shell prompts that never call the daemon."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, wait_state


def status_file(paths: InstancePaths) -> dict[str, object] | None:
    try:
        with open(os.path.join(paths.runtime_dir, "status.json")) as f:
            found: dict[str, object] = json.load(f)
            return found
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_the_status_file_follows_the_apps(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
        min_start = "0s"
        instances = 2

        [apps.bad]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 0
    """)
    wait_state(daemon, "bad", "crashed")
    wait_for(lambda: (status_file(paths) or {}).get("down") == ["bad"], what="the file")
    status = status_file(paths)
    assert status is not None
    assert (status["healthy"], status["running"], status["wanted"]) == (False, 2, 3)
    assert os.stat(os.path.join(paths.runtime_dir, "status.json")).st_mode & 0o777 == 0o644
    shown = cli("prompt")
    assert (shown.code, shown.out) == (1, "procward: 2/3 (bad down)\n")
    daemon.call("deleteApp", name="bad")
    wait_for(lambda: (status_file(paths) or {}).get("healthy") is True, what="healthy again")
    assert cli("prompt").out == ""
    assert cli("prompt", "--always").out == "procward: 2/2\n"


def test_no_daemon_no_status(cli: Callable[..., Result], paths: InstancePaths) -> None:
    assert cli("up").code == 0
    wait_for(lambda: status_file(paths) is not None, what="the file")
    assert cli("down").code == 0
    assert status_file(paths) is None
    shown = cli("prompt", "--always")
    assert (shown.code, shown.out) == (3, "procward: not running\n")


def test_the_prompt_counts_what_serves_and_names_every_app_that_does_not(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
        min_start = "0s"

        [apps.bad]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 0

        [apps.job]
        cmd = ["true"]
        min_start = "0s"

        [apps.slow]
        cmd = ["sleep", "1000"]
        ready = { exec = "false", start_timeout = "1h", interval = "1s" }
    """)
    wait_state(daemon, "bad", "crashed")
    wait_state(daemon, "job", "exited")
    wait_for(lambda: (status_file(paths) or {}).get("down") == ["bad"], what="the file")
    status = status_file(paths)
    assert status is not None
    assert (status["running"], status["wanted"]) == (1, 4)
    assert (status["exited"], status["starting"]) == (["job"], ["slow"])
    shown = cli("prompt")
    assert (shown.code, shown.out) == (1, "procward: 1/4 (bad down, job exited, slow starting)\n")
    daemon.call("deleteApp", name="bad")
    wait_for(lambda: (status_file(paths) or {}).get("healthy") is True, what="healthy again")
    assert cli("prompt").out == ""
    assert cli("prompt", "--always").out == "procward: 1/3 (job exited, slow starting)\n"
