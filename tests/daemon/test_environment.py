"""What apps start with: a clean environment, and a way back to their own daemon (issue 10).

Items 2 and 5: the environment of the shell that happened to start the daemon
does not leak into apps; ``PROCWARD_INSTANCE`` in an app names its daemon (the
index is ``PROCWARD_INDEX``), so a ``procward`` command run by an app reaches
the daemon that supervises it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import WriteConfig, wait_all_state


def test_the_spawning_shells_variables_do_not_reach_apps(
    cli: Callable[..., Result], write_config: WriteConfig, paths: InstancePaths, home: str
) -> None:
    # The daemon is started by a shell with FOO set; the apps come later, from another.
    assert cli("up", env={"FOO": "leaked", "PYTHONPATH": "/leaked"}).code == 0
    path = write_config(f"""
        [apps.plain]
        cmd = ["sh", "-c", "env > {home}/plain.env; exec sleep 1000"]
        [apps.everything]
        cmd = ["sh", "-c", "env > {home}/everything.env; exec sleep 1000"]
        inherit_env = true
        [apps.some]
        cmd = ["sh", "-c", "env > {home}/some.env; exec sleep 1000"]
        inherit_env = ["FOO", "NOT_SET"]
    """)
    try:
        assert cli("up", "-c", path).code == 0
        envs = {name: _read_env(f"{home}/{name}.env") for name in ("plain", "everything", "some")}
        assert "FOO" not in envs["plain"] and "PYTHONPATH" not in envs["plain"]
        assert envs["plain"]["PATH"] == os.environ["PATH"]
        assert envs["plain"]["PROCWARD_APP"] == "plain"
        assert envs["plain"]["PROCWARD_INDEX"] == "0"
        assert envs["everything"]["FOO"] == "leaked"
        assert envs["everything"]["PYTHONPATH"] == "/leaked"
        assert envs["some"]["FOO"] == "leaked" and "PYTHONPATH" not in envs["some"]
        shown = cli("env", "plain")
        assert shown.code == 0
        assert "FOO=" not in shown.out and "PROCWARD_INDEX=0\n" in shown.out
    finally:
        assert cli("down").code == 0


def test_the_secret_stores_key_never_reaches_an_app_even_with_inherit_env(
    cli: Callable[..., Result], write_config: WriteConfig, home: str
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    daemon_env = {
        "PROCWARD_SECRETS_KEY": key,
        "PROCWARD_SECRETS_KEY_COMMAND": "echo planted-key-command",
        "FOO": "inherited",
    }
    assert cli("up", env=daemon_env).code == 0
    path = write_config(f"""
        [apps.everything]
        cmd = ["sh", "-c", "env > {home}/everything.env; exec sleep 1000"]
        inherit_env = true
        [apps.named]
        cmd = ["sh", "-c", "env > {home}/named.env; exec sleep 1000"]
        inherit_env = ["PROCWARD_SECRETS_KEY", "PROCWARD_SECRETS_KEY_COMMAND", "FOO"]
    """)
    try:
        assert cli("up", "-c", path).code == 0
        for name in ("everything", "named"):
            env = _read_env(f"{home}/{name}.env")
            assert env["FOO"] == "inherited"  # inherit_env works: only the key is held back
            assert "PROCWARD_SECRETS_KEY" not in env
            assert "PROCWARD_SECRETS_KEY_COMMAND" not in env
            shown = cli("env", name)
            assert shown.code == 0 and "FOO=inherited" in shown.out
            assert key not in shown.out and "planted-key-command" not in shown.out
    finally:
        assert cli("down").code == 0


def test_the_environment_does_not_depend_on_who_started_the_daemon(
    cli: Callable[..., Result], write_config: WriteConfig, paths: InstancePaths
) -> None:
    path = write_config("""
        [apps.app]
        cmd = ["sleep", "1000"]
        autostart = false
    """)
    seen = []
    for extra in ({"FOO": "1"}, {"BAR": "2", "LD_PRELOAD": ""}):
        assert cli("up", "-c", path, env=extra).code == 0
        with Client.open(paths.socket) as client:
            seen.append(client.call("getEnv", name="app"))
        assert cli("down").code == 0
    assert seen[0] == seen[1]


def test_a_procward_command_run_by_an_app_reaches_its_own_daemon(
    daemon: Client, cli: Callable[..., Result], write_config: WriteConfig, home: str
) -> None:
    out = f"{home}/asked"
    ask = f"{sys.executable} -m procward --json ping > {out}.tmp && mv {out}.tmp {out}"
    path = write_config(f"""
        [apps.asker]
        cmd = ["sh", "-c", "{ask}; exec sleep 1000"]
        instances = 2
    """)
    assert cli("up", "-c", path).code == 0
    wait_all_state(daemon, "asker", "running", count=2)
    wait_for(lambda: os.path.exists(out), what="the app's procward ping")
    with open(out) as f:
        answer = json.load(f)
    assert answer["pid"] == daemon.call("ping")["pid"]
    # No daemon of an instance named "0" or "1" was started.
    assert set(os.listdir(home)) <= {"default", "procward.toml", "asked", "asked.tmp"}


def _read_env(path: str) -> dict[str, str]:
    def written() -> dict[str, str] | None:
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        lines = [line.partition("=") for line in text.splitlines() if "=" in line]
        found = {k: v for k, _, v in lines}
        return found if "PROCWARD_APP" in found else None

    return wait_for(written, what=path)
