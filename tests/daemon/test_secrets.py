"""Apps that refer to secrets, in a real daemon (issue 13).

A secret the store lacks fails the start of the apps that need it, saying
which, and the others run; every view shows ``<secret:NAME>``. Values
reaching apps end to end: test_secrets_end_to_end.py; in-process with a
fake store: tests/supervision/test_secret_injection.py,
tests/daemon/test_exec_secrets.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, wait_state

CONFIG = """
    [apps.api]
    cmd = "sleep 1000"
    env = { DATABASE_URL = { secret = "db_url" }, PORT = "8000" }
    secrets = ["stripe-key"]
    max_restarts = 0

    [apps.web]
    cmd = "sleep 1000"
    min_start = "0.1s"
"""
MISSING = "no secret named 'stripe-key' in the store"


def set_both(client: Client) -> None:
    """The secrets CONFIG refers to, in the store (as an admin on the socket)."""
    client.call("setSecret", name="db_url", value="postgres://u:pw-1@db/x")
    client.call("setSecret", name="stripe-key", value="sk-2")


def test_an_app_with_secrets_fails_naming_them_and_the_others_run(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    set_both(daemon)
    load_apps(CONFIG)
    wait_state(daemon, "web", "running")
    wait_state(daemon, "api", "running")
    daemon.call("removeSecret", name="stripe-key")
    daemon.call("restartApp", name="api")

    def failed() -> bool:
        error = app_instances(daemon, "api")[0]["error"]
        return error is not None and MISSING in error and "apps.api.secrets" in error

    wait_for(failed, what="api's reason")
    assert app_instances(daemon, "api")[0]["pid"] is None
    assert app_instances(daemon, "web")[0]["state"] == "running"
    status = cli("status")
    assert MISSING in status.out + status.err


def test_views_and_the_saved_state_show_names_in_place_of_values(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    set_both(daemon)
    load_apps(CONFIG)
    env = cli("env", "api")
    assert env.code == 0, env.err
    assert "DATABASE_URL=<secret:db_url>" in env.out
    assert "STRIPE_KEY=<secret:stripe-key>" in env.out
    assert "PORT=8000" in env.out
    spec = daemon.call("getApp", name="api")["spec"]
    assert spec["env"] == {"PORT": "8000"}
    assert spec["secrets"] == {"DATABASE_URL": "db_url", "STRIPE_KEY": "stripe-key"}
    inspected = daemon.call("inspect", name="api")
    assert inspected["env"]["DATABASE_URL"] == "<secret:db_url>"
    status = json.loads(cli("status", "--json").out)
    assert "<secret:" not in json.dumps(status)  # no environment there at all

    def saved() -> dict[str, object] | None:
        with open(paths.state) as f:
            apps = {a["spec"]["name"]: a["spec"] for a in json.load(f)["apps"]}
        return apps.get("api")

    spec_saved = wait_for(saved, what="api in state.json")
    assert spec_saved["secrets"] == {"DATABASE_URL": "db_url", "STRIPE_KEY": "stripe-key"}
    assert spec_saved["env"] == {"PORT": "8000"}


def test_a_secret_on_the_command_line_is_refused_at_load(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], home: str
) -> None:
    path = f"{home}/bad.toml"
    with open(path, "w") as f:
        f.write('[apps.api]\ncmd = "psql $DB"\nenv = { DB = { secret = "db_url" } }\n')
    result = cli("up", "-c", path)
    assert result.code != 0
    assert "apps.api.cmd: $DB would put secret 'db_url' on a command line" in result.err


def test_the_saved_references_come_back_after_a_restart(
    cli: Callable[..., Result], load_apps: LoadApps, paths: InstancePaths
) -> None:
    assert cli("up").code == 0
    try:
        with Client.open(paths.socket) as client:
            set_both(client)
        load_apps(CONFIG)
        assert cli("down").code == 0
        assert cli("up").code == 0
        with Client.open(paths.socket) as client:
            spec = client.call("getApp", name="api")["spec"]
        assert spec["secrets"] == {"DATABASE_URL": "db_url", "STRIPE_KEY": "stripe-key"}
    finally:
        assert cli("down").code == 0


def test_secret_files_a_dead_daemon_left_are_removed_at_start(
    cli: Callable[..., Result], paths: InstancePaths
) -> None:
    stale = os.path.join(paths.runtime_dir, "credentials", "api.0.0123abcd")
    old = os.umask(0o077)  # the daemon's directories must be private
    try:
        os.makedirs(stale)
    finally:
        os.umask(old)
    with open(os.path.join(stale, "db_url"), "w") as f:
        f.write("value")
    assert cli("up").code == 0
    try:
        assert os.listdir(os.path.dirname(stale)) == []
    finally:
        assert cli("down").code == 0


def test_exec_of_an_app_whose_secrets_cannot_be_given_says_which(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    set_both(daemon)
    load_apps(CONFIG)
    daemon.call("removeSecret", name="stripe-key")
    result = cli("exec", "api", "--", "true")
    assert result.code != 0
    assert MISSING in result.err
