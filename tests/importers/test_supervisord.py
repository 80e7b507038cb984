"""supervisord files into procward keys (``procward.importers.supervisord``), without a daemon."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from procward.importers import ImportRefused, read, render
from procward.importers.programkeys import key_value_pairs
from procward.supervision.config import parse_config

from .conftest import DATA, ENVIRON, notes_by_line, read_data

FILES = [
    "supervisord/django.conf",
    "supervisord/celery.conf",
    "supervisord/include/main.conf",
    "supervisord/crlf.conf",
    "supervisord/priority.conf",
    "supervisord/groups.conf",
    "supervisord/expansions.conf",
    "supervisord/messy.conf",
]

# Files with [fcgi-program:x]: the daemon binds their sockets, so test_loaded.py
# loads a copy on a free port.
FCGI_FILES = ["supervisord/fcgi.conf", "supervisord/fcgi-unix.conf"]


def apps_of(relative: str) -> dict[str, dict[str, object]]:
    return {app.name: app.keys for app in read_data(relative).apps}


@pytest.mark.parametrize("relative", FILES + FCGI_FILES)
def test_every_file_becomes_a_config_procward_accepts(relative: str) -> None:
    imported = read_data(relative)
    text = render(imported, os.path.dirname(os.path.join(DATA, relative)))
    config = parse_config(tomllib.loads(text), base_dir=DATA)
    assert list(config.apps) == [app.name for app in imported.apps]
    assert text.startswith(f"# Imported from {imported.source} (supervisord)")


def test_the_keys_procward_has_carry_over() -> None:
    django = apps_of("supervisord/django.conf")["django"]
    assert django == {
        "cmd": "sleep 600",
        "cwd": os.path.join(DATA, "supervisord"),
        "autostart": True,
        "min_start": "1s",
        "max_restarts": 3,
        "stop_signal": "INT",
        "stop_timeout": "5s",
        "merge_logs": True,
        "log_max_size": "20MB",
        "log_backups": 3,
        "env": {"DJANGO_SETTINGS_MODULE": "mysite.settings", "LANG": "en_US.UTF-8"},
        "restart": "always",
    }


def test_numprocs_and_process_num_become_instances_and_instance() -> None:
    celery = apps_of("supervisord/celery.conf")["celery"]
    assert celery["instances"] == 3
    assert celery["env"] == {
        "WORKER": "w0{instance}",
        "QUEUE": "default,high",
        "C_FORCE_ROOT": "true",
    }
    assert celery["stop_timeout"] == "600s"


def test_expansions_of_the_environment_here_numprocs_and_percent() -> None:
    queue = apps_of("supervisord/expansions.conf")["queue"]
    assert queue["cmd"] == "sh -c 'exec sleep 600' 'queue 100%'"
    assert queue["instances"] == 2
    assert queue["stop_timeout"] == "7s"
    env = queue["env"]
    assert isinstance(env, dict)
    assert env["HOME_DIR"] == os.path.join(DATA, "supervisord")
    assert (env["N"], env["SLOT"]) == ("2", "{instance}")
    notes = notes_by_line(read_data("supervisord/expansions.conf"))
    assert "%(ENV_WORKERS)s filled in from the environment" in notes["expansions.conf", 3]


def test_an_unset_environment_variable_is_reported_not_guessed() -> None:
    imported = read(os.path.join(DATA, "supervisord/expansions.conf"), None, {})
    notes = notes_by_line(imported)
    assert "$SLEEP_SECONDS is not set" in notes["expansions.conf", 2]
    assert (
        notes["expansions.conf", 1] == "[program:queue]: its command cannot be used: not imported"
    )
    assert imported.apps == ()


def test_priority_becomes_depends_on_between_tiers_of_apps_that_start() -> None:
    imported = read_data("supervisord/priority.conf")
    assert [app.name for app in imported.apps] == ["db", "manual", "cache", "web", "worker"]
    depends = {app.name: app.keys.get("depends_on") for app in imported.apps}
    assert depends == {
        "db": None,
        "manual": None,
        "cache": ["db"],
        "web": ["cache"],
        "worker": ["cache"],
    }


def test_includes_are_globs_relative_to_the_including_file() -> None:
    imported = read_data("supervisord/include/main.conf")
    assert apps_of("supervisord/include/main.conf") == {
        "api": {"cmd": "sh -c 'exec sleep 600' api --port 8000 --workers 2"},
        "jobs": {"cmd": "sleep 602", "depends_on": ["api"]},
    }
    notes = notes_by_line(imported)
    assert notes["main.conf", 5] == "files: 'extra.ini' matches no file"
    assert notes["jobs.conf", 5] == (
        "stdout_logfile: to the console: procward run -c FILE --logs (containers)"
    )
    assert notes["jobs.conf", 6].startswith("stdout_logfile_maxbytes: 0 (never rotate)")


def test_crlf_tabs_trailing_spaces_and_inline_comments(tmp_path: Path) -> None:
    with open(os.path.join(DATA, "supervisord/crlf.conf"), encoding="utf-8") as f:
        text = f.read()
    apps = read_text(tmp_path, text.replace("\n", "\r\n").rstrip())  # no final newline
    assert apps["nginx"] == {
        "cmd": "sleep 600",
        "stop_signal": "QUIT",
        "stop_timeout": "3s",
        "restart": "always",
    }
    assert apps["php-fpm"] == {
        "cmd": "sh -c 'exec sleep 603' php-fpm --nodaemonize",
        "restart": "never",
    }


def read_text(tmp_path: Path, text: str) -> dict[str, dict[str, object]]:
    path = tmp_path / "supervisord.conf"
    path.write_bytes(text.encode())
    return {app.name: app.keys for app in read(str(path), None, ENVIRON).apps}


def test_what_does_not_carry_over_is_reported_with_its_line() -> None:
    notes = notes_by_line(read_data("supervisord/messy.conf"))
    assert notes["messy.conf", 2] == "command: a [program:x] key in [supervisord]: not imported"
    assert notes["messy.conf", 9] == "autorestart: set again below: the last one counts"
    assert "one setting for both logs" in notes["messy.conf", 12]
    assert "limits = { nofile = ... }" in notes["messy.conf", 14]  # otherkeys' answer
    assert notes["messy.conf", 16] == "(line): not key = value: ignored"
    assert "add inherit_env = true" in notes["messy.conf", 0]
    assert apps_of("supervisord/messy.conf")["legacy"]["restart"] == "always"
    assert apps_of("supervisord/messy.conf")["legacy"]["umask"] == "022"


def test_groups_and_event_listeners_are_reported_fcgi_programs_imported() -> None:
    imported = read_data("supervisord/groups.conf")
    assert [app.name for app in imported.apps] == ["shop-web", "shop-worker", "php"]
    notes = notes_by_line(imported)
    assert "procward has no groups" in notes["groups.conf", 1]
    assert "[hooks.NAME]" in notes["groups.conf", 10]
    assert "memmon: use max_memory" in notes["groups.conf", 10]
    assert "not on fd 0" in notes["groups.conf", 15]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("command={{ app_dir }}/bin/run", "Jinja"),
        ("command=<%= @app_dir %>/bin/run", "ERB"),
        ("command=/bin/run --port %%PORT%%", "%%VAR%%"),
    ],
)
def test_templates_are_refused_with_the_line(tmp_path: Path, line: str, kind: str) -> None:
    path = os.path.join(str(tmp_path), "app.conf")
    with open(path, "w") as f:
        f.write(f"[program:app]\n{line}\n")
    with pytest.raises(ImportRefused, match=rf"app.conf:2: this is a {kind} template"):
        read(path, None, {})


def test_a_command_with_dollars_or_shell_characters_stays_an_array(tmp_path: Path) -> None:
    apps = read_text(tmp_path, "[program:a]\ncommand=echo $HOME 'a;b' {x}\n")
    assert apps["a"]["cmd"] == ["echo", "$$HOME", "a;b", "{{x}}"]


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ('A="x y",B=2', {"A": "x y", "B": "2"}),
        ("A = 1 , B = '/a b'", {"A": "1", "B": "/a b"}),
        ("PATH=/usr/bin:/bin,X=(a)", {"PATH": "/usr/bin:/bin", "X": "(a)"}),
    ],
)
def test_environment_is_read_with_supervisords_quoting(text: str, pairs: dict[str, str]) -> None:
    assert key_value_pairs(text) == pairs


def test_an_environment_supervisord_would_refuse_is_reported() -> None:
    with pytest.raises(ValueError, match="not KEY=value pairs"):
        key_value_pairs("A=a b")


def test_names_procward_cannot_take_are_changed_and_reported(tmp_path: Path) -> None:
    text = "[program:my app]\ncommand=sleep 1 %(program_name)s\n[program:all]\ncommand=x\n"
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    imported = read(str(path), None, {})
    assert {a.name: a.keys["cmd"] for a in imported.apps} == {
        "my-app": "sleep 1 my app",  # expanded, then split, as supervisord does
        "all-app": "x",
    }
    notes = notes_by_line(imported)
    assert notes["supervisord.conf", 1].startswith("[program:my app]: imported as 'my-app'")


def test_two_programs_whose_names_meet_stay_two_apps(tmp_path: Path) -> None:
    """``[program:a b]`` is imported as ``a-b``: a ``[program:a-b]`` beside it was written
    as a second ``[apps.a-b]`` table, which no TOML reader takes."""
    text = "[program:a b]\ncommand=sleep 1\n[program:a-b]\ncommand=sleep 2\n"
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    imported = read(str(path), None, {})
    assert [(a.name, a.keys["cmd"]) for a in imported.apps] == [
        ("a-b", "sleep 1"),
        ("a-b-2", "sleep 2"),
    ]
    notes = notes_by_line(imported)
    assert (
        notes["supervisord.conf", 3]
        == "[program:a-b]: imported as 'a-b-2': 'a-b' is another program's"
    )
    config = parse_config(tomllib.loads(render(imported, str(tmp_path))), base_dir=str(tmp_path))
    assert list(config.apps) == ["a-b", "a-b-2"]


def test_fcgi_programs_hold_their_socket_and_get_it_on_fd_0() -> None:
    serve = os.path.join(ENVIRON["APP_DIR"], "serve.py")
    on_fd_0 = ["/bin/sh", "-c", 'exec "$$0" "$$@" 0<&3']
    assert apps_of("supervisord/fcgi.conf")["app"] == {
        "cmd": [*on_fd_0, "python3", serve, "--stdin"],
        "instances": 2,
        "env": {"GREETING": "hello fastcgi"},
        "stop_signal": "QUIT",
        "stop_timeout": "4s",
        "merge_logs": True,
        "restart": "always",
        "sockets": {"fcgi": "127.0.0.1:9000"},
    }
    unix = read_data("supervisord/fcgi-unix.conf")
    apps = {app.name: app.keys for app in unix.apps}
    assert apps["php"]["sockets"] == {"fcgi": "/run/php/php.sock"}  # %(program_name)s
    assert apps["worker"]["depends_on"] == ["php"]
    notes = notes_by_line(unix)
    assert "not on fd 0" in notes["fcgi-unix.conf", 2]
    assert "chown it after start" in notes["fcgi-unix.conf", 3]
    assert "chmod it after start" in notes["fcgi-unix.conf", 4]
    assert "'udp://127.0.0.1:9001' is not tcp://host:port" in notes["fcgi-unix.conf", 15]
    assert "legacy" not in apps


def test_a_program_has_no_socket(tmp_path: Path) -> None:
    path = tmp_path / "supervisord.conf"
    path.write_text("[program:a]\ncommand=sleep 1\nsocket=tcp://127.0.0.1:9000\n")
    imported = read(str(path), None, {})
    assert "sockets" not in imported.apps[0].keys
    assert "only an [fcgi-program:x] has a socket" in notes_by_line(imported)["supervisord.conf", 3]


def test_event_listeners_name_the_hooks_and_the_nearest_events() -> None:
    notes = notes_by_line(read_data("supervisord/fcgi.conf"))
    crashmail = notes["fcgi.conf", 17]
    assert '[hooks.NAME] table with on = ["crashed", "exited"]' in crashmail
    assert "PROCESS_STATE_EXITED -> exited, crashed; PROCESS_STATE_FATAL -> crashed." in crashmail
    watcher = notes_by_line(read_data("supervisord/fcgi-unix.conf"))["fcgi-unix.conf", 18]
    assert 'on = ["crashed", "exited", "restarted"]' in watcher
    assert "TICK_5 -> no hook event (a health probe checks on an interval" in watcher
    assert "PROCESS_LOG_STDERR -> no hook event (procward logs -f" in watcher
