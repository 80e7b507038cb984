"""Procfiles into procward keys (``procward.importers.procfile``), without a daemon."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from procward.importers import ImportRefused, detect, read, render
from procward.supervision.config import parse_config
from procward.supervision.spec import launch

from .conftest import DATA, notes_by_line, read_data

FILES = [
    "procfile/rails/Procfile",
    "procfile/node/Procfile",
    "procfile/django/Procfile",
    "procfile/python/Procfile",
    "procfile/go/Procfile",
    "procfile/heroku/Procfile",
    "procfile/dupes/Procfile",
    "procfile/messy/Procfile.dev",
]


def config_of(relative: str) -> dict[str, object]:
    imported = read_data(relative)
    path = os.path.join(DATA, relative)
    text = render(imported, os.path.dirname(path))
    return dict(parse_config(tomllib.loads(text), base_dir=os.path.dirname(path)).apps)


@pytest.mark.parametrize("relative", FILES)
def test_every_procfile_becomes_a_config_procward_accepts(relative: str) -> None:
    assert detect(os.path.join(DATA, relative)) == "procfile"
    assert list(config_of(relative)) == [app.name for app in read_data(relative).apps]


def test_port_is_foremans_base_plus_100_per_entry_plus_the_instance() -> None:
    apps = config_of("procfile/heroku/Procfile")
    ports = {
        name: [launch(spec, i, {}).env["PORT"] for i in (0, 1, 9)] for name, spec in apps.items()
    }  # type: ignore[attr-defined]
    assert ports["web"] == ["5000", "5001", "5009"]
    assert ports["clock"] == ["5300", "5301", "5309"]


def test_the_env_file_beside_it_and_its_directory() -> None:
    [web, *_] = read_data("procfile/rails/Procfile").apps
    here = os.path.join(DATA, "procfile/rails")
    assert web.keys["cwd"] == here
    assert web.keys["env_file"] == os.path.join(here, ".env")
    text = render(read_data("procfile/rails/Procfile"), here)
    assert 'env_file = ".env"' in text and 'cwd = "."' in text


def test_commands_run_as_sh_c_would_run_them() -> None:
    apps = {a.name: a.keys["cmd"] for a in read_data("procfile/python/Procfile").apps}
    assert apps["web"] == ["/bin/sh", "-c", "exec sleep $${{WEB_SLEEP:-606}}"]
    specs = config_of("procfile/python/Procfile")
    argv = launch(specs["web"], 0, {}).argv  # type: ignore[arg-type]
    assert argv == ("/bin/sh", "-c", "exec sleep ${WEB_SLEEP:-606}")
    django = {a.name: a.keys["cmd"] for a in read_data("procfile/django/Procfile").apps}
    assert (
        django["web"] == "DJANGO_SETTINGS_MODULE=mysite.settings exec sleep 604"
    )  # sh: an assignment
    rails = {a.name: a.keys["cmd"] for a in read_data("procfile/rails/Procfile").apps}
    assert rails["web"][:2] == ["/bin/sh", "-c"]  # its '# comment' is the shell's


def test_backslash_continuations_join_lines() -> None:
    apps = {a.name: a.keys["cmd"] for a in read_data("procfile/go/Procfile").apps}
    assert apps["web"] == [
        "/bin/sh",
        "-c",
        "exec sleep 608 # a comment inside the continuation is the shell's",
    ]
    assert apps["clock"] == ["/bin/sh", "-c", "exec sleep 609"]  # exec is the shell's


def test_comments_duplicates_and_lines_without_a_name_are_reported() -> None:
    notes = notes_by_line(read_data("procfile/node/Procfile"))
    assert notes["Procfile", 3] == notes["Procfile", 4] == "(line): commented out: not imported"
    dupes = read_data("procfile/dupes/Procfile")
    assert [(a.name, a.keys["cmd"]) for a in dupes.apps] == [("web", "sleep 612")]
    notes = notes_by_line(dupes)
    assert notes["Procfile", 1] == "web: defined again on line 2, which counts"
    assert "not 'name: command'" in notes["Procfile", 3]
    assert "not 'name: command'" in notes["Procfile", 4]
    assert notes["Procfile", 0].startswith("(restart): foreman stops every process")


def test_one_off_entries_do_not_start_with_the_others() -> None:
    apps = {a.name: a for a in read_data("procfile/heroku/Procfile").apps}
    assert apps["release"].keys["autostart"] is False
    assert apps["postdeploy"].keys["restart"] == "never"
    assert "autostart" not in apps["clock"].keys
    assert "procward start release" in apps["release"].notes[0].text


def test_an_unknown_format_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "apps.yml"
    path.write_text("services:\n  web:\n    image: nginx\n  [weird]\n")
    with pytest.raises(ImportRefused, match="cannot tell its format"):
        read(str(path), None, {})
    with pytest.raises(ImportRefused, match="cannot read"):
        read(str(tmp_path / "missing"), "procfile", {})
