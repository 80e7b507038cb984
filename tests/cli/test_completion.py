"""`procward completion bash|zsh|fish`: valid scripts, made from the command table, that
complete commands, options and the running daemon's app names (decision 0040)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from procward.cli.main import PARSER
from procward.kit._client import Client
from procward.kit._completion import SHELLS, script
from procward.kit._lock import is_locked
from procward.kit._paths import InstancePaths

from ..conftest import Result
from ..daemon.conftest import LoadApps
from ..test_layers import imported_by


@pytest.fixture
def procward_exe(tmp_path: object) -> str:
    """A `procward` executable (the venv's, else a wrapper around this interpreter)."""
    beside = os.path.join(os.path.dirname(sys.executable), "procward")
    if os.access(beside, os.X_OK):
        return beside
    wrapper = os.path.join(str(tmp_path), "procward")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} -m procward "$@"\n')
    os.chmod(wrapper, 0o755)
    return wrapper


def bash_complete(exe: str, line: str) -> tuple[list[str], str]:
    """What bash's completion function offers for ``line`` (cursor at its end), and stderr.

    Set up as bash does for a TAB: COMP_WORDS/COMP_CWORD and COMP_LINE/COMP_POINT.
    """
    code = (
        'eval "$(cat)"\n'
        'COMP_LINE="$1"; COMP_POINT=${#1}\n'
        'read -ra COMP_WORDS <<< "$1"\n'
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        'case "$1" in *" ") COMP_WORDS+=(""); COMP_CWORD=$((COMP_CWORD + 1)) ;; esac\n'
        "_procward\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", code, "bash", line.replace("procward", exe, 1)],
        input=script(PARSER, "bash"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [word for word in done.stdout.splitlines() if word], done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_each_script_is_valid_for_its_shell(shell: str, tmp_path: object) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: its syntax is not checked here")
    path = os.path.join(str(tmp_path), f"procward.{shell}")
    with open(path, "w") as f:
        f.write(script(PARSER, shell))
    done = subprocess.run(
        [shell, "-n", path], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_scripts_come_from_the_command_table() -> None:
    """Every visible command and option is in each script; the hidden one is not offered."""
    for shell in SHELLS:
        text = script(PARSER, shell)
        for command in PARSER.commands.values():
            if command.hidden:
                assert f"{command.name}:" not in text and f"'{command.name}'" not in text
                continue
            assert command.name in text, (shell, command.name)
            for option in command.options:
                assert all(name in text for name in option.names), (shell, option.names)


def test_bash_completes_commands_options_and_their_values(procward_exe: str) -> None:
    assert bash_complete(procward_exe, "procward st")[0] == ["status", "start", "stop", "startup"]
    assert bash_complete(procward_exe, "procward stop --f")[0] == ["--force"]
    assert bash_complete(procward_exe, "procward start --restart a")[0] == ["always"]
    assert bash_complete(procward_exe, "procward completion ")[0] == ["bash", "zsh", "fish"]
    # The command is found past global options and their values, "host:port" included.
    found = bash_complete(procward_exe, "procward --connect 127.0.0.1:9700 -i x sca")
    assert found[0] == ["scale"]


def test_bash_completes_the_running_daemons_app_names(
    daemon: Client, load_apps: LoadApps, procward_exe: str
) -> None:
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
        [apps.worker]
        cmd = ["sleep", "1000"]
    """)
    names, err = bash_complete(procward_exe, "procward stop ")
    assert names == ["web", "worker"] and not err
    assert bash_complete(procward_exe, "procward logs -n 5 wo")[0] == ["worker"]
    assert bash_complete(procward_exe, "procward watch --on web ")[0] == ["web", "worker"]
    assert bash_complete(procward_exe, "procward scale web ")[0] == []  # a count: nothing


def test_without_a_daemon_no_names_no_daemon_and_no_words(
    home: str, paths: InstancePaths, procward_exe: str, cli: Callable[..., Result]
) -> None:
    names, err = bash_complete(procward_exe, "procward restart ")
    assert names == [] and err == ""
    direct = cli("__complete", "apps")
    assert (direct.code, direct.out, direct.err) == (0, "", "")
    assert not is_locked(paths.lock) and not os.path.exists(paths.socket)  # none started


def test_the_hidden_command_is_quick(
    daemon: Client, load_apps: LoadApps, procward_exe: str, paths: InstancePaths
) -> None:
    """A TAB runs it: the CLI's start-up and one call (generous bound for a loaded machine)."""
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
    """)
    started = time.monotonic()
    done = subprocess.run(
        [procward_exe, "__complete", "apps"], capture_output=True, timeout=30, check=True
    )
    assert done.stdout == b"web\n" and time.monotonic() - started < 2.0


def test_fish_completes_commands_and_app_names(
    daemon: Client, load_apps: LoadApps, procward_exe: str, tmp_path: object
) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
    """)
    path = os.path.join(str(tmp_path), "procward.fish")
    with open(path, "w") as f:
        f.write(script(PARSER, "fish"))

    def complete(line: str) -> list[str]:
        # `procward` a function running the executable: the script calls the word typed.
        shim = f"function procward; {procward_exe} $argv; end"
        code = f"{shim}; source {path}; complete -C {line!r}"
        done = subprocess.run(
            ["fish", "-c", code], capture_output=True, text=True, timeout=30, check=True
        )
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert "status" in complete("procward sta") and "start" in complete("procward sta")
    assert complete("procward stop ") == ["web"]
    assert "--force" in complete("procward stop --")


def test_the_cli_loads_no_completion_code_for_other_commands() -> None:
    loaded = imported_by("import procward.cli.main")
    assert "procward.kit._completion" not in loaded and "procward.cli.completing" not in loaded


# zsh's completion system needs a terminal; its builtins are stood in for, printing what
# the script offers (real zsh then filters by the prefix typed).
ZSH_STUBS = """\
compdef() { :; }
compadd() { if [[ $1 == -a ]]; then print -l -- ${(P)2}; else shift; print -l -- "$@"; fi }
_describe() { print -l -- ${${(P)4}%%:*} }
_files() { print -- @files }
source "$1"
shift
words=("$@"); CURRENT=${#words}
_procward
"""


def test_zsh_offers_commands_options_files_and_app_names(
    daemon: Client, load_apps: LoadApps, procward_exe: str, tmp_path: object
) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
    """)
    path = os.path.join(str(tmp_path), "procward.zsh")
    with open(path, "w") as f:
        f.write(script(PARSER, "zsh"))

    def offered(*words: str) -> list[str]:
        done = subprocess.run(
            ["zsh", "-f", "-c", ZSH_STUBS, "zsh", path, procward_exe, *words],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert done.stderr == ""
        return done.stdout.split()

    assert {"status", "start", "stop"} <= set(offered("st"))
    assert "--force" in offered("stop", "--f")
    assert offered("run", "-c", "") == ["@files"]
    assert offered("-i", "x", "stop", "") == []  # another instance: no daemon, no names
    assert offered("stop", "") == ["web"]
