"""The commands people type by habit (issue 15, item 3): ``ls``, ``describe`` and
``resurrect`` are other names of ``status``, ``inspect`` and ``up``; ``save`` says
there is nothing to do; ``startup`` writes the unit ``service`` prints."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from procward.cli.main import PARSER
from procward.kit._argv import UsageError
from procward.kit._completion import script
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from procward.supervision.config import parse_config

from ..conftest import Result
from .test_completion import bash_complete, procward_exe

__all__ = ["procward_exe"]  # the fixture, for the completion test

Cli = Callable[..., Result]
APPS = """
    [apps.web]
    cmd = "sleep 600"
"""


def _steady(text: str) -> str:
    """``status`` output without what changes from one second to the next."""
    return re.sub(r"\bup \d+s\b|\s\d+s\s", " T ", text)


def test_ls_and_describe_are_status_and_inspect(cli: Cli, load_apps: Any) -> None:
    assert cli("up").code == 0
    load_apps(APPS)

    # Running past its min_start: both commands must see the same state and note.
    def settled() -> bool:
        out = cli("--json", "status").out
        return '"state": "running"' in out and '"proven"' not in out

    wait_for(settled, what="web running")
    for alias, command in ((["ls"], ["status"]), (["describe", "web"], ["inspect", "web"])):
        said, meant = cli("--json", *alias), cli("--json", *command)
        assert (said.code, said.err) == (meant.code, meant.err) == (0, "")
        assert said.out.splitlines()[:3] == meant.out.splitlines()[:3]
    assert _steady(cli("ls").out) == _steady(cli("status").out)
    assert cli("ls", "nosuch").code == cli("status", "nosuch").code == 1
    assert cli("down").code == 0


def test_resurrect_brings_back_what_down_held(cli: Cli, load_apps: Any) -> None:
    assert cli("up").code == 0
    load_apps(APPS)
    assert cli("down").code == 0
    back = cli("resurrect")
    assert back.code == 0, back.err
    assert "started again: web" in back.out
    assert cli("down").code == 0


def test_save_says_the_state_is_saved_already(cli: Cli, paths: InstancePaths) -> None:
    said = cli("save")
    assert said.code == 0
    assert paths.state in said.out and "procward up" in said.out
    assert not os.path.exists(paths.lock), "save started a daemon"


def test_help_shows_the_aliases_beside_their_command(cli: Cli) -> None:
    top = cli("--help").out
    for line in ("status, ls", "inspect, describe", "up, resurrect"):
        assert re.search(rf"^  {line}\s", top, re.MULTILINE), line
    assert "(also: procward ls)" in cli("ls", "--help").out
    assert "(also: procward describe)" in cli("inspect", "--help").out


def test_completion_knows_the_aliases(procward_exe: str) -> None:
    assert {"ls", "logs"} <= set(bash_complete(procward_exe, "procward l")[0])
    assert bash_complete(procward_exe, "procward describe --l")[0] == ["--lines"]
    for shell in ("zsh", "fish"):
        text = script(PARSER, shell)
        assert "describe" in text and "resurrect" in text and "= inspect" in text


def test_startup_writes_the_unit_service_prints(cli: Cli, tmp_path: Any) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    wrote = cli("startup", env=env)
    assert wrote.code == 0, wrote.err
    unit = tmp_path / "systemd" / "user" / "procward.service"
    printed = cli("service").out
    assert f"# procward.service\n{unit.read_text()}\n" == printed
    assert wrote.out.splitlines()[1:3] == [
        "enable it (starts it now, and at each login):",
        "  systemctl --user enable --now procward.service",
    ]
    assert cli("startup", env=env).code == 0  # the same unit again: nothing to refuse

    unit.write_text("[Service]\nExecStart=/bin/true\n")  # edited by hand
    refused = cli("startup", env=env)
    assert refused.code == 1 and "--force" in refused.err
    assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"
    assert cli("startup", "--force", env=env).code == 0
    assert f"# procward.service\n{unit.read_text()}\n" == printed


def test_startup_with_a_socket_enables_the_socket(cli: Cli, tmp_path: Any) -> None:
    wrote = cli("-i", "web", "startup", "--socket", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert wrote.code == 0, wrote.err
    assert (tmp_path / "systemd" / "user" / "procward-web.socket").exists()
    assert "  systemctl --user enable --now procward-web.socket" in wrote.out


def test_startup_while_a_daemon_runs_says_to_stop_it_first(cli: Cli, tmp_path: Any) -> None:
    """Else the unit's daemon would find the instance taken and fail, again and again."""
    assert cli("up").code == 0
    wrote = cli("startup", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert "  procward down && systemctl --user enable --now procward.service" in wrote.out
    assert cli("down").code == 0


GUIDE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "migrating.md")


def _guide() -> str:
    with open(GUIDE, encoding="utf-8") as f:
        return f.read()


def _commands_in(text: str) -> list[str]:
    """Every procward command line the guide shows: in backquotes, and in sh blocks."""
    quoted = re.findall(r"`(procward [^`]+)`", text.replace("\n", " "))
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    shown = [line for block in blocks for line in block.splitlines()]
    lines = [line.split("#")[0].strip() for line in shown if line.startswith("procward ")]
    return [part.strip() for line in quoted + lines for part in line.split("&&")]


def test_every_command_in_the_migration_guide_parses() -> None:
    """No invented command or option: each one the guide names is in the command table."""
    commands = [c for c in _commands_in(_guide()) if c.startswith("procward ")]
    assert len(commands) > 50
    for line in commands:
        try:
            PARSER.parse(line.replace("COMMAND", "status").split()[1:])
        except UsageError as exc:
            named = exc.kind == "missing" and len(line.split()) == 2  # `procward import`, in prose
            assert named or str(exc) == "--version", (line, str(exc))
        except SystemExit:  # --help
            pass


def test_the_migration_guides_config_loads() -> None:
    for block in re.findall(r"```toml\n(.*?)```", _guide(), re.DOTALL):
        parse_config(tomllib.loads(block), base_dir="/")


@pytest.mark.parametrize("key", ["inherit_env", "max_age_jitter", "merge_logs", "min_start"])
def test_the_keys_the_guide_names_exist(key: str) -> None:
    from procward.supervision.appkeys import READERS

    assert f"`{key}" in _guide() and key in READERS
