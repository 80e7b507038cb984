"""``procward @NAME COMMAND`` and ``--connect NAME``: remotes.toml's aliases, from the CLI.

A real daemon listens on 127.0.0.1 TCP; the alias names it with a token
file. XDG_CONFIG_HOME is the test's own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from tests.conftest import Result

Runner = Callable[..., Result]


@pytest.fixture
def config_home(home: str, monkeypatch: pytest.MonkeyPatch) -> str:
    path = os.path.join(home, "config", "procward")
    os.makedirs(path, mode=0o700)
    monkeypatch.setenv("XDG_CONFIG_HOME", os.path.dirname(path))
    return path


@pytest.fixture
def lab(cli: Runner, paths: InstancePaths, config_home: str) -> Iterator[str]:
    """A daemon on 127.0.0.1 TCP and the alias ``lab`` for it (viewer token); its pid."""
    assert cli("up").code == 0
    with Client.open(paths.socket) as local:
        address = local.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
        token = local.call("createToken", role="viewer", subject="lab")["token"]
        pid = local.call("ping")["pid"]
    token_file = os.path.join(config_home, "lab.token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(token)
    remotes = os.path.join(config_home, "remotes.toml")
    with open(os.open(remotes, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(f'[lab]\nurl = "tcp://{address}"\ntoken_file = "lab.token"\n')
    yield str(pid)
    assert cli("down").code == 0


def test_at_alias_runs_any_command_there(cli: Runner, lab: str) -> None:
    pinged = cli("@lab", "ping", "--json", env={"PROCWARD_HOME": "/nonexistent"})
    assert pinged.code == 0, pinged.err
    assert str(json.loads(pinged.out)["pid"]) == lab
    status = cli("@lab", "status", "--json")
    assert status.code == 0, status.err
    assert status.out.startswith("{")
    refused = cli("@lab", "stop", "all")  # a viewer's token
    assert refused.code == 1
    assert "stopAll needs the operator role" in refused.err


def test_connect_takes_an_alias_too(cli: Runner, lab: str) -> None:
    pinged = cli("--connect", "lab", "ping", "--json")
    assert pinged.code == 0, pinged.err
    assert str(json.loads(pinged.out)["pid"]) == lab


def test_an_unknown_alias_is_a_usage_error_naming_the_file(cli: Runner, config_home: str) -> None:
    said = cli("@nowhere", "status")
    assert said.code == 2
    assert said.err == (
        f"procward: @nowhere: no such remote (the aliases are in {config_home}/remotes.toml)\n"
    )
    assert cli("--connect", "nowhere", "ping").err == (
        f"procward: no remote 'nowhere' in {config_home}/remotes.toml (an address is HOST:PORT)\n"
    )


def test_a_remotes_file_others_may_read_is_refused(cli: Runner, config_home: str) -> None:
    path = os.path.join(config_home, "remotes.toml")
    with open(path, "w") as f:
        f.write('[lab]\nurl = "tcp://127.0.0.1:9"\n')
    os.chmod(path, 0o644)
    said = cli("@lab", "status")
    assert said.code == 2
    assert f"the remotes file {path} has mode 0644" in said.err
    assert f"fix it with: chmod 600 {path}" in said.err
