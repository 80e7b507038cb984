"""Circus files into procward keys (``procward.importers.circus``), without a daemon."""

from __future__ import annotations

import os
import pwd
import shutil
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procward.importers import Imported, ImportRefused, detect, read, render
from procward.supervision.config import parse_config

from .conftest import DATA, ENVIRON, notes_by_line

FILES = [
    "circus/web/circus.ini",
    "circus/celery/circus.ini",
    "circus/priority/circus.ini",
    "circus/envs/circus.ini",
    "circus/logs/circus.ini",
    "circus/django/circus.ini",
    "circus/recycle/circus.ini",
    "circus/messy/circus.ini",
    "circus/include/circus.ini",
]
APP_DIR = os.path.join(DATA, "circus")
# What $(circus.env.x) in the test files asks for.
CIRCUS_ENVIRON = {
    **ENVIRON,
    "APP_USER": pwd.getpwuid(os.geteuid()).pw_name,
    "PATH": "/usr/bin:/bin",
}


def read_circus(relative: str, environ: dict[str, str] = CIRCUS_ENVIRON) -> Imported:
    return read(os.path.join(DATA, relative), None, environ)


def apps_of(relative: str) -> dict[str, dict[str, object]]:
    return {app.name: app.keys for app in read_circus(relative).apps}


def read_text(tmp_path: Path, text: str) -> Imported:
    path = tmp_path / "circus.ini"
    path.write_text(text)
    return read(str(path), None, CIRCUS_ENVIRON)


@pytest.mark.parametrize("relative", FILES)
def test_every_file_becomes_a_config_procward_accepts(relative: str) -> None:
    imported = read_circus(relative)
    text = render(imported, os.path.dirname(os.path.join(DATA, relative)))
    config = parse_config(tomllib.loads(text), base_dir=DATA)
    assert list(config.apps) == [app.name for app in imported.apps]
    assert text.startswith(f"# Imported from {imported.source} (circus)")


def test_circus_files_are_told_by_name_or_by_a_watcher_section(tmp_path: Path) -> None:
    assert detect(os.path.join(DATA, "circus/web/circus.ini")) == "circus"
    shutil.copy(os.path.join(DATA, "circus/priority/circus.ini"), tmp_path / "apps.ini")
    assert detect(str(tmp_path / "apps.ini")) == "circus"


def test_the_keys_procward_has_carry_over() -> None:
    assert apps_of("circus/web/circus.ini")["web"] == {
        "cmd": "python3 serve.py --fd 3",
        "cwd": APP_DIR,
        "instances": 2,
        "stop_timeout": "5s",
        "stop_signal": "INT",
        "sockets": {"web": "127.0.0.1:8765"},
        "env": {"GREETING": "hello from circus"},
        "restart": "always",  # circusd respawns after any exit
    }
    celery = apps_of("circus/celery/circus.ini")["celery"]
    assert (celery["cmd"], celery["instances"], celery["inherit_env"]) == ("sleep 600", 2, True)
    assert (celery["stop_signal"], celery["stop_timeout"]) == ("QUIT", "10m")


def test_env_sections_bare_for_all_named_and_by_pattern() -> None:
    apps = apps_of("circus/celery/circus.ini")
    common = {
        "C_FORCE_ROOT": "true",  # [env]: every watcher
        "CELERY_QUEUES": "default,high",  # [env:celery*]: both match the pattern
        "BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    assert apps["celery"]["env"] == apps["celerybeat"]["env"] == common


def test_env_values_take_dollar_names_from_the_environment_and_keep_semicolons() -> None:
    imported = read_circus("circus/envs/circus.ini")
    apps = {app.name: app.keys for app in imported.apps}
    env = apps["api"]["env"]
    assert env == {
        "LANG": "en_US.UTF-8",
        "APP_HOME": f"{APP_DIR}/home",  # $(circus.env.app_dir) in the bare [env]
        "PATH": "/usr/bin:/bin:/opt/app/bin",  # $PATH, from procward import's environment
        "DSN": "postgres://db/app?sslmode=disable;application_name=api ; the part after ' ;' "
        "is a comment",  # the first ';' had no space before it: none is a comment
        "URL": "http://h/a;b#c",
    }
    assert apps["jobs"]["env"] == {**env, "QUEUE": "jobs-$(circus.wid)"}  # [env:x]: as written
    notes = notes_by_line(imported)
    assert notes["circus.ini", 19].startswith("PATH: $PATH filled in from the environment")
    assert "expands no $(circus.x) in [env:x] values" in notes["circus.ini", 24]
    assert notes["circus.ini", 11].endswith("'WORKING_DIR' is not 'working_dir'")


def test_circus_env_expansions_in_any_case_and_either_form() -> None:
    imported = read_circus("circus/envs/circus.ini")
    jobs = {app.name: app for app in imported.apps}["jobs"]
    assert jobs.keys["cmd"] == "sleep 600 7"  # $(CIRCUS.ENV.SLEEP_SECONDS), ((circus.env.grace))
    assert "$(circus.env.sleep_seconds) filled in from the environment" in jobs.notes[0].text


def test_an_unset_environment_variable_is_reported_not_guessed() -> None:
    imported = read_circus("circus/envs/circus.ini", {"PATH": "/bin"})
    notes = notes_by_line(imported)
    assert "it is not set where procward import runs: not imported" in notes["circus.ini", 15]
    assert notes["circus.ini", 14] == "[watcher:jobs]: its command cannot be used: not imported"
    assert [app.name for app in imported.apps] == ["api"]


def test_priority_starts_the_highest_first_as_depends_on_tiers() -> None:
    imported = read_circus("circus/priority/circus.ini")
    assert [app.name for app in imported.apps] == ["db", "manual", "cache", "web", "worker"]
    depends = {app.name: app.keys.get("depends_on") for app in imported.apps}
    assert depends == {
        "db": None,
        "manual": None,  # autostart = false: nothing waits for it
        "cache": ["db"],
        "web": ["cache"],
        "worker": ["cache"],
    }


def test_sockets_named_in_the_command_become_fds_from_3_and_stdin_socket_fd_0() -> None:
    apps = apps_of("circus/django/circus.ini")
    assert apps["mysite"]["cmd"] == f"python3 {APP_DIR}/serve.py --fd 3"
    assert apps["mysite"]["sockets"] == {"mysite": "127.0.0.1:8766"}
    assert apps["fcgi"]["cmd"] == [
        "/bin/sh",
        "-c",
        'exec "$$0" "$$@" 0<&3',
        "python3",
        "serve.py",
        "--stdin",
    ]
    assert apps["fcgi"]["sockets"] == {"fcgi": "127.0.0.1:8767"}
    assert apps["fcgi"]["user"] == CIRCUS_ENVIRON["APP_USER"]


def test_socket_sections_as_procward_addresses(tmp_path: Path) -> None:
    text = """
[watcher:a]
cmd = serve --fds $(circus.sockets.unix),$(circus.sockets.v6),$(CIRCUS.SOCKETS.Plain)
[watcher:b]
cmd = serve --fd $(circus.sockets.plain)
[socket:unix]
path = /run/a.sock
umask = 000
[socket:v6]
family = AF_INET6
host = ::1
port = 8001
[socket:Plain]
[socket:udp]
type = SOCK_DGRAM
"""
    imported = read_text(tmp_path, text)
    apps = {app.name: app.keys for app in imported.apps}
    assert apps["a"]["cmd"] == "serve --fds 3,4,5"
    assert apps["a"]["sockets"] == {
        "unix": "/run/a.sock",
        "v6": "[::1]:8001",
        "plain": "localhost:8080",  # circusd's defaults; names are lower-cased
    }
    notes = notes_by_line(imported)
    assert notes["circus.ini", 4].startswith("[watcher:b]: names socket 'plain', which 'a' holds")
    assert "umask: not imported" in notes["circus.ini", 8]
    assert "procward holds stream sockets only" in notes["circus.ini", 14]


def test_the_worker_id_becomes_the_instance() -> None:
    imported = read_circus("circus/messy/circus.ini")
    wid = {app.name: app for app in imported.apps}["wid"]
    assert (wid.keys["cmd"], wid.keys["instances"]) == ("sleep 618 '{instance}'", 2)
    assert "Circus numbers its processes from 1, procward from 0" in wid.notes[1].text


def test_streams_become_procwards_logs() -> None:
    apps = apps_of("circus/logs/circus.ini")
    assert apps["web"] == {
        "cmd": "sleep 612",
        "merge_logs": True,  # stdout and stderr to one file
        "log_max_size": 10485760,
        "log_backups": 5,
        "log_time": True,
        "restart": "always",
    }
    notes = notes_by_line(read_circus("circus/logs/circus.ini"))
    assert notes["circus.ini", 11].endswith("procward has one setting for both logs: stdout's")
    assert "rotates by size, not by time" in notes["circus.ini", 15]
    assert "to the console" in notes["circus.ini", 19]


def test_max_age_limits_and_warmup_delay() -> None:
    apps = apps_of("circus/recycle/circus.ini")
    assert apps["api"] == {
        "cmd": "sleep 614",
        "instances": 2,
        "max_age": "1h",
        "max_age_jitter": "5m",
        "ready": {"delay": "1s"},
        "limits": {"nofile": 4096, "core": "unlimited"},
        "restart": "always",
    }
    assert apps["scheduler"]["max_age_jitter"] == "30s"  # Circus's default variance


def test_what_does_not_carry_over_is_reported_with_its_line() -> None:
    notes = notes_by_line(read_circus("circus/messy/circus.ini"))
    assert notes["circus.ini", 6] == "numprocesses: set again: circusd keeps the first one"
    assert notes["circus.ini", 4] == "Cmd: circusd reads keys as written, and 'Cmd' is not 'cmd'"
    assert "the shell expands nothing" in notes["circus.ini", 10]
    assert "spaces as part of its name" in notes["circus.ini", 14]
    assert "no watcher's command names it" in notes["circus.ini", 21]
    assert "names no watcher of this file" in notes["circus.ini", 24]
    assert "not a Circus section" in notes["circus.ini", 27]
    assert "add inherit_env = true" in notes["circus.ini", 0]
    recycle = notes_by_line(read_circus("circus/recycle/circus.ini"))
    assert "(StatsdEmitter); procward metrics" in recycle["circus.ini", 17]
    django = notes_by_line(read_circus("circus/django/circus.ini"))
    assert "procward runs no Python hooks; [hooks]" in django["circus.ini", 16]
    assert "not on fd 0" in django["circus.ini", 25]
    assert django["circus.ini", 7] == (
        "include_dir: '/home/app/.circus.d/*.ini' matches no file: not read"
    )


def test_included_files_are_read_relative_to_the_main_one() -> None:
    imported = read_circus("circus/include/circus.ini")
    apps = {app.name: app.keys for app in imported.apps}
    assert list(apps) == ["api", "worker", "jobs"]  # by priority: 10, 5, 0
    assert apps["api"]["sockets"] == {"api": "127.0.0.1:8768"}
    assert apps["api"]["env"] == {"LANG": "C.UTF-8", "GREETING": "hello from an include"}
    assert "instances" not in apps["api"]  # the repeated section is not merged in
    assert apps["jobs"]["depends_on"] == ["worker"]
    notes = notes_by_line(imported)
    assert notes["circus.ini", 3].startswith("include: ")
    assert notes["circus.ini", 3].endswith("include/extra.ini' matches no file: not read")
    assert notes["jobs.ini", 5].startswith("[watcher:api]: also in ")
    assert notes["jobs.ini", 5].endswith(
        "api.ini:1: circusd merges the two, the first value "
        "of each key counting; not imported from here"
    )


def test_lines_circusd_would_refuse_are_reported(tmp_path: Path) -> None:
    imported = read_text(tmp_path, "early = 1\n[watcher:a]\ncmd = sleep 1\nnot a pair\n")
    notes = notes_by_line(imported)
    assert notes["circus.ini", 1] == "(no section): circusd refuses keys before any section"
    assert notes["circus.ini", 4] == "(line): not key = value: circusd refuses the file"
    assert [app.name for app in imported.apps] == ["a"]


def test_use_sockets_off_or_without_a_socket_named_is_reported(tmp_path: Path) -> None:
    text = """[watcher:a]
cmd = serve --fd $(circus.sockets.s)
use_sockets = false
[watcher:b]
cmd = serve
use_sockets = true
stdin_socket = nope
[socket:s]
port = 8000
"""
    imported = read_text(tmp_path, text)
    notes = notes_by_line(imported)
    assert "circusd would close the sockets the command names" in notes["circus.ini", 3]
    assert notes["circus.ini", 7] == "stdin_socket: no usable [socket:nope] section: not imported"
    assert [app.name for app in imported.apps] == ["a"]


LINES = [
    "[watcher:a]",
    "[watcher:b c]",
    "[watcher:b-c]",
    "[env]",
    "[env:a,b*]",
    "[socket:s]",
    "[circus]",
    "cmd = sleep 1 $(circus.wid)",
    "args = --fd $(circus.sockets.s) ((circus.env.X))",
    "numprocesses = 2",
    "priority = 3",
    "port = 8000",
    "path = /run/s.sock",
    "stdin_socket = s",
    "A = $PATH;x ; y",
    "  continued ; #",
    "# comment",
    "rem x",
]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(LINES), st.text(max_size=20)), max_size=30))
def test_any_file_imports_to_a_config_procward_accepts_or_is_refused(
    tmp_path: Path, lines: list[str]
) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        imported = read(str(path), "circus", {"X": "1"})
    except ImportRefused:
        return
    config = parse_config(tomllib.loads(render(imported, str(tmp_path))), base_dir=str(tmp_path))
    assert list(config.apps) == [app.name for app in imported.apps]


def test_two_watchers_whose_names_meet_stay_two_apps(tmp_path: Path) -> None:
    """``[watcher:a b]`` is ``a-b``: a ``[watcher:a-b]`` beside it was left out before."""
    imported = read_text(tmp_path, "[watcher:a b]\ncmd = sleep 1\n[watcher:a-b]\ncmd = sleep 2\n")
    assert [(a.name, a.keys["cmd"]) for a in imported.apps] == [
        ("a-b", "sleep 1"),
        ("a-b-2", "sleep 2"),
    ]
    assert any("'a-b' is another watcher's" in note.text for note in imported.notes)
