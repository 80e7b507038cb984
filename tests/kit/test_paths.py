"""Instance paths: where each layout puts things, instance names, and private directories.

Every test passes ``env=`` (and a fake ``HOME`` where ``~`` is expanded), so nothing
here reads or creates the real state or runtime directories.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit._errors import UnsafeDirectory
from procward.kit._paths import (
    DEFAULT_INSTANCE,
    InstancePaths,
    instance_for_project,
    resolve,
    validate_instance,
)


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- resolve ---------------------------------------------------------------------


def test_home_puts_everything_under_home_slash_instance(tmp_path: Path) -> None:
    paths = resolve("procward", env={"PROCWARD_HOME": str(tmp_path)})
    root = str(tmp_path / DEFAULT_INSTANCE)
    assert paths.instance == DEFAULT_INSTANCE
    assert paths.runtime_dir == paths.state_dir == root
    assert paths.private_parents == ()  # a home chosen by the user is not ours to police
    assert paths.as_dict() == {
        "instance": "default",
        "runtime_dir": root,
        "state_dir": root,
        "socket": f"{root}/daemon.sock",
        "lock": f"{root}/daemon.lock",
        "metadata": f"{root}/daemon.json",
        "state": f"{root}/state.json",
        "log_dir": f"{root}/logs",
        "daemon_log": f"{root}/logs/daemon.log",
    }
    assert paths.spawn_lock == f"{root}/spawn.lock"


def test_the_home_variable_is_named_after_the_prefix(tmp_path: Path) -> None:
    env = {"PROCWARD_HOME": "/elsewhere", "COUNTERD_HOME": str(tmp_path)}
    paths = resolve("counterd", env=env)
    assert paths.state_dir == str(tmp_path / "default")
    assert paths.prefix == "counterd"


def test_a_relative_or_tilde_home_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("procward", env={"PROCWARD_HOME": "~/pw"}).state_dir == str(
        tmp_path / "pw" / "default"
    )
    monkeypatch.chdir(tmp_path)
    assert resolve("procward", env={"PROCWARD_HOME": "rel"}).state_dir == str(
        tmp_path / "rel" / "default"
    )


def test_xdg_dirs_hold_runtime_and_state_separately(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_STATE_HOME": str(tmp_path / "state")}
    paths = resolve("procward", "web", env=env)
    assert paths.runtime_dir == str(tmp_path / "run" / "procward" / "web")
    assert paths.state_dir == str(tmp_path / "state" / "procward" / "web")
    assert paths.socket == str(tmp_path / "run" / "procward" / "web" / "daemon.sock")
    assert paths.lock == str(tmp_path / "state" / "procward" / "web" / "daemon.lock")
    assert paths.private_parents == (
        str(tmp_path / "run" / "procward"),
        str(tmp_path / "state" / "procward"),
    )


def test_without_any_variable_it_falls_back_to_tmp_and_local_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # for the expansion of ~/.local/state
    paths = resolve("procward", env={})  # computed only: nothing is created
    uid = os.geteuid()
    assert paths.runtime_dir == f"/tmp/procward-{uid}/default"
    assert paths.state_dir == str(tmp_path / ".local" / "state" / "procward" / "default")
    assert paths.private_parents == (
        f"/tmp/procward-{uid}",
        str(tmp_path / ".local" / "state" / "procward"),
    )
    assert os.listdir(tmp_path) == []


def test_empty_variables_count_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {
        "PROCWARD_HOME": "",
        "XDG_RUNTIME_DIR": "",
        "XDG_STATE_HOME": "",
        "PROCWARD_INSTANCE": "",
    }
    assert resolve("procward", env=env) == resolve("procward", env={})


def test_the_instance_comes_from_the_argument_then_the_environment_then_default(
    tmp_path: Path,
) -> None:
    env = {"PROCWARD_HOME": str(tmp_path), "PROCWARD_INSTANCE": "from-env"}
    assert resolve("procward", env=env).instance == "from-env"
    assert resolve("procward", "explicit", env=env).instance == "explicit"
    assert resolve("procward", env={"PROCWARD_HOME": str(tmp_path)}).instance == "default"
    assert resolve("procward", "explicit", env=env).state_dir == str(tmp_path / "explicit")


def test_resolve_refuses_an_invalid_instance(tmp_path: Path) -> None:
    env = {"PROCWARD_HOME": str(tmp_path), "PROCWARD_INSTANCE": "../escape"}
    with pytest.raises(ValueError, match="invalid instance name"):
        resolve("procward", env=env)
    with pytest.raises(ValueError, match="invalid instance name"):
        resolve("procward", "a/b", env={"PROCWARD_HOME": str(tmp_path)})


def test_paths_compare_by_value(tmp_path: Path) -> None:
    env = {"PROCWARD_HOME": str(tmp_path)}
    a, b = resolve("procward", env=env), resolve("procward", env=env)
    assert a == b
    assert hash(a) == hash(b)
    assert a != resolve("procward", "other", env=env)
    assert "default" in repr(a)


# -- instance names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "A-b_c.d", "x" * 64, "web.v2"])
def test_valid_instance_names(name: str) -> None:
    assert validate_instance(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-x", ".x", "_x", ".", "..", "a/b", "a b", "x" * 65, "é", "a\0b", "a\nb", "\nabc"],
)
def test_invalid_instance_names(name: str) -> None:
    with pytest.raises(ValueError, match="use 1-64 letters"):
        validate_instance(name)


def test_an_instance_name_with_a_trailing_newline_is_invalid() -> None:
    with pytest.raises(ValueError):
        validate_instance("abc\n")


def test_instance_for_project_is_stable_across_spellings_of_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "My Project"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    monkeypatch.chdir(tmp_path)
    name = instance_for_project(project)
    assert name.startswith("My_Project-")
    assert validate_instance(name) == name
    assert instance_for_project(str(project)) == name
    assert instance_for_project(f"{project}/") == name
    assert instance_for_project("My Project") == name
    assert instance_for_project(tmp_path / "link") == name


def test_instance_for_project_tells_same_named_directories_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "app", tmp_path / "b" / "app"
    assert instance_for_project(a) != instance_for_project(b)
    assert instance_for_project(a).startswith("app-")


@pytest.mark.parametrize(
    ("directory", "prefix"), [("/", "root-"), ("/x/.hidden", "hidden-"), ("/x/---", "root-")]
)
def test_instance_for_project_names_awkward_directories(directory: str, prefix: str) -> None:
    name = instance_for_project(directory)
    assert name.startswith(prefix)
    assert validate_instance(name) == name


@given(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/\0"), min_size=1))
def test_instance_for_project_always_gives_a_valid_name(basename: str) -> None:
    name = instance_for_project(os.path.join("/nonexistent-procward-test", basename))
    assert validate_instance(name) == name


def test_instance_for_project_accepts_a_directory_name_that_is_not_utf8(tmp_path: Path) -> None:
    undecodable = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9"))
    name = instance_for_project(undecodable)
    assert validate_instance(name) == name


# -- ensure --------------------------------------------------------------------------


def home_paths(home: Path, instance: str = "default") -> InstancePaths:
    return resolve("procward", instance, env={"PROCWARD_HOME": str(home)})


def test_ensure_creates_private_directories(tmp_path: Path) -> None:
    paths = home_paths(tmp_path / "home")
    paths.ensure()
    for directory in (paths.runtime_dir, paths.state_dir, paths.log_dir):
        assert os.path.isdir(directory)
        assert mode_of(directory) == 0o700
    paths.ensure()  # idempotent


def test_ensure_creates_the_xdg_parents_private_too(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_STATE_HOME": str(tmp_path / "state")}
    paths = resolve("procward", env=env)
    paths.ensure()
    for directory in (*paths.private_parents, paths.runtime_dir, paths.state_dir, paths.log_dir):
        assert mode_of(directory) == 0o700


def test_ensure_refuses_a_directory_open_to_others_and_says_how_to_fix_it(tmp_path: Path) -> None:
    paths = home_paths(tmp_path)
    os.mkdir(paths.state_dir)
    os.chmod(paths.state_dir, 0o755)
    with pytest.raises(UnsafeDirectory, match="0755") as info:
        paths.ensure()
    assert f"chmod 700 {paths.state_dir}" in str(info.value)
    assert mode_of(paths.state_dir) == 0o755  # refused, not "fixed"


def test_ensure_refuses_an_open_xdg_parent(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_STATE_HOME": str(tmp_path / "state")}
    paths = resolve("procward", env=env)
    planted = paths.private_parents[0]
    os.makedirs(planted)
    os.chmod(planted, 0o777)
    with pytest.raises(UnsafeDirectory, match="chmod 700"):
        paths.ensure()


def test_ensure_refuses_a_symlink_in_place_of_a_directory(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    paths = home_paths(tmp_path)
    os.symlink(real, paths.state_dir)
    with pytest.raises(UnsafeDirectory, match="not a directory"):
        paths.ensure()


def test_ensure_refuses_a_file_in_place_of_a_directory(tmp_path: Path) -> None:
    paths = home_paths(tmp_path)
    Path(paths.state_dir).touch()
    with pytest.raises((UnsafeDirectory, FileExistsError)):
        paths.ensure()


def test_ensure_refuses_a_file_with_unsafe_directory(tmp_path: Path) -> None:
    paths = home_paths(tmp_path)
    Path(paths.state_dir).touch()
    with pytest.raises(UnsafeDirectory, match="not a directory"):
        paths.ensure()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_ensure_refuses_a_directory_owned_by_another_user(tmp_path: Path) -> None:
    paths = home_paths(tmp_path)
    os.mkdir(paths.state_dir, 0o700)
    os.chown(paths.state_dir, 65534, 65534)
    with pytest.raises(UnsafeDirectory, match="owned by uid 65534"):
        paths.ensure()
