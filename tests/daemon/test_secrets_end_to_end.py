"""Secrets end to end: set with the CLI, used by apps, never shown (issue 13's "Done when").

Real daemons in the test's own home; the apps write what they were given to
files outside the instance directory, and the test then looks for the value
everywhere the daemon keeps or says anything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from tests.conftest import Result
from tests.daemon.conftest import LoadApps, wait_state

pytestmark = pytest.mark.usefixtures("daemon")

# Each writes what it was given to OUT and then sleeps, printing nothing.
ENV_APP = (
    "import os, sys, time; open(sys.argv[1], 'w').write(os.environ.get('DATABASE_URL', '-'));"
    " time.sleep(600)"
)
FILE_APP = (
    "import os, sys, time; d = os.environ['CREDENTIALS_DIRECTORY'];"
    " open(sys.argv[1], 'w').write(open(os.path.join(d, 'db_url')).read() + '|'"
    " + os.environ.get('DATABASE_URL', '-') + '|' + d); time.sleep(600)"
)


def set_secret(name: str, value: str | bytes, *options: str) -> Result:
    """``procward secret set NAME`` with the value on a pipe, as a script would."""
    data = value.encode() if isinstance(value, str) else value
    proc = subprocess.run(
        [sys.executable, "-m", "procward", "secret", "set", name, *options],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def planted() -> str:
    """A value that cannot turn up anywhere by chance."""
    return "pw-" + secrets.token_hex(12)


@pytest.fixture
def out(tmp_path: Any) -> Iterator[Callable[[str], str]]:
    """``out("api")``: a file outside the instance dir for an app to write to."""
    yield lambda name: str(tmp_path / f"{name}.out")


def read_when_written(path: str) -> str:
    """What an app wrote to ``path``, once it has (the apps write, then rename)."""

    def written() -> str | None:
        try:
            with open(path) as f:
                return f.read() or None
        except FileNotFoundError:
            return None

    return wait_for(written, 10, what=path)


def files_holding(root: str, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle`` (rotated logs, .bak, all)."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:  # a socket, a file gone in between
                continue
    return found


def test_a_secret_reaches_the_app_and_nothing_else(
    cli: Callable[..., Result],
    paths: InstancePaths,
    load_apps: LoadApps,
    planted: str,
    out: Callable[[str], str],
) -> None:
    assert set_secret("db_url", planted).code == 0
    load_apps(f"""
        [apps.api]
        cmd = [{sys.executable!r}, "-c", {ENV_APP!r}, {out("api")!r}]
        env = {{ DATABASE_URL = {{ secret = "db_url" }} }}

        [apps.worker]
        cmd = [{sys.executable!r}, "-c", {FILE_APP!r}, {out("worker")!r}]
        secrets = {{ DATABASE_URL_FILE = "db_url" }}
        secrets_as = "files"
    """)
    assert read_when_written(out("api")) == planted
    value, in_env, directory = read_when_written(out("worker")).split("|")
    assert value == planted
    assert in_env == "-"  # files mode: not in the environment
    assert oct(os.stat(directory).st_mode & 0o777) == oct(0o700)

    with Client.open(paths.socket) as client:
        wait_state(client, "api", "running")
        wait_state(client, "worker", "running")
        replies = [
            client.call("status"),
            client.call("getApp", name="api"),
            client.call("inspect", name="api"),
            client.call("inspect", name="worker"),
            client.call("getEnv", name="api"),
            client.call("getEnv", name="worker"),
            client.call("listSecrets"),
            client.call("getAudit"),
            client.call("getEvents"),
            client.call("getLogs", name="api"),
            client.call("exec", name="api", args=["printenv", "DATABASE_URL"]),
        ]
    shown = json.dumps(replies)
    assert planted not in shown
    assert "<secret:db_url>" in json.dumps(replies[4])  # getEnv says where it comes from
    assert "<secret:db_url>" in replies[-1]["stdout"]  # exec's output: the value replaced
    for command in (("status", "--json"), ("env", "api"), ("secret", "list", "--json")):
        result = cli(*command)
        assert result.code == 0, result.err
        assert planted not in result.out + result.err
    # Under the home (state, logs, audit, keys, runtime): only the file-mode app's own file.
    home = os.environ["PROCWARD_HOME"]
    assert files_holding(home, planted.encode()) == [os.path.join(directory, "db_url")]

    # Stopped, the file-mode instance's directory is gone.
    assert cli("stop", "worker").code == 0
    wait_for(lambda: not os.path.exists(directory), 10, what=f"{directory} removed")


def test_a_changed_secret_is_used_after_reload(
    cli: Callable[..., Result],
    paths: InstancePaths,
    load_apps: LoadApps,
    planted: str,
    out: Callable[[str], str],
) -> None:
    assert set_secret("db_url", "old-value").code == 0
    load_apps(f"""
        [apps.api]
        cmd = [{sys.executable!r}, "-c", {ENV_APP!r}, {out("api")!r}]
        env = {{ DATABASE_URL = {{ secret = "db_url" }} }}
    """)
    assert read_when_written(out("api")) == "old-value"
    # Changed, not reloaded: the app still runs with the old value, and says so.
    changed = set_secret("db_url", "newer-value")
    assert changed.code == 0, changed.err
    assert "used by api" in changed.out
    shown = cli("status")
    assert "secret changed (db_url): reload to use it" in shown.out
    assert read_when_written(out("api")) == "old-value"
    os.unlink(out("api"))
    result = set_secret("db_url", planted, "--reload")
    assert result.code == 0, result.err
    assert "reloaded: api" in result.out
    assert read_when_written(out("api")) == planted
    assert "secret changed" not in cli("status").out


def test_an_unknown_secret_is_listed_with_the_other_problems(cli: Callable[..., Result]) -> None:
    # Validation lists an unknown secret with the other problems, before anything starts.
    path = os.path.join(os.environ["PROCWARD_HOME"], "procward.toml")
    with open(path, "w") as f:
        f.write('[apps.api]\ncmd = "sleep 600"\nsecrets = ["nope"]\nrestart = "sometimes"\n')
    result = cli("up", "-c", path)
    assert result.code != 0
    assert "nope" in result.err
    assert "restart" in result.err


def test_a_store_that_cannot_be_read_stops_only_the_apps_that_need_it(
    cli: Callable[..., Result],
    paths: InstancePaths,
    write_config: Callable[[str], str],
    planted: str,
    out: Callable[[str], str],
) -> None:
    assert set_secret("db_url", planted).code == 0
    config = write_config(f"""
        [apps.plain]
        cmd = "sleep 600"

        [apps.api]
        cmd = [{sys.executable!r}, "-c", {ENV_APP!r}, {out("api")!r}]
        env = {{ DATABASE_URL = {{ secret = "db_url" }} }}
    """)
    assert cli("down").code == 0
    key = os.path.join(os.environ["PROCWARD_HOME"], ".keys", f"{paths.instance}.key")
    # Another valid key: the store is intact but cannot be opened with it.
    with open(key, "wb") as f:
        f.write(base64.b64encode(os.urandom(32)) + b"\n")
    store = os.path.join(paths.state_dir, "secrets.enc")
    with open(store, "rb") as f:
        before = f.read()

    started = cli("up", "-c", config)
    assert started.code == 1  # not all that should run does: said, and why
    assert "restore the key it was sealed with" in started.out
    with Client.open(paths.socket) as client:
        wait_state(client, "plain", "running")

        def failure() -> str | None:
            app = client.call("getApp", name="api")
            said = [app["error"], *(i["error"] for i in app["instances"])]
            return next((why for why in said if why and "db_url" in why), None)

        why = wait_for(failure, 10, what="api's start refused, naming db_url")
        assert "cannot give 'db_url'" in why and "restore the key it was sealed with" in why
        assert client.call("getApp", name="plain")["instances"][0]["state"] == "running"
    listed = cli("secret", "list")
    assert listed.code == 1
    assert "the secret store cannot be read" in listed.err and "sealed with key" in listed.err
    # Nothing overwritten until an admin acts.
    assert set_secret("other", "x").code != 0
    with open(store, "rb") as f:
        assert f.read() == before
    assert not os.path.exists(out("api"))
