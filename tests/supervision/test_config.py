"""procward.toml validation: every rule, every problem reported at once, nothing half-applied."""

from __future__ import annotations

import grp
import os
import pwd
import re
from pathlib import Path
from typing import Any

import pytest

from procward.supervision.config import (
    Config,
    ConfigError,
    Problem,
    load_config,
    parse_app,
    parse_config,
    validate_app_name,
)
from procward.supervision.spec import AppSpec, Backoff, RestartMode


def problems_of(data: dict[str, Any], base_dir: str = "/srv") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=base_dir)
    return [str(p) for p in info.value.problems]


def app_problems(**table: Any) -> list[str]:
    """The problems of one app ``web`` whose table is ``cmd = "prog"`` plus ``table``."""
    return problems_of({"apps": {"web": {"cmd": "prog", **table}}})


def write(tmp_path: Path, text: str, name: str = "procward.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- the whole file --


def test_a_file_with_five_mistakes_reports_all_five(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[apps.web]
cmd = "python -m http.server"
instances = "two"          # 1: wrong type
restart = "sometimes"      # 2: unknown restart mode
stop_timeout = "fast"      # 3: bad duration
depends_on = ["worker"]

[apps.worker]
cmd = ["python", "worker.py"]
instanses = 2              # 4: unknown key
depends_on = ["web"]       # 5: a cycle
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert [(p.app, p.key) for p in err.problems] == [
        ("web", "instances"),
        ("web", "restart"),
        ("web", "stop_timeout"),
        ("worker", "instanses"),
        ("web", "depends_on"),
    ]
    lines = str(err).splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{path}: apps.") for line in lines)
    assert lines[0].endswith("apps.web.instances: must be an integer >= 0, got 'two'")
    assert (
        "apps.web.restart: must be one of 'on-failure', 'always', 'never', got 'sometimes'"
        in (lines[1])
    )
    assert "apps.web.stop_timeout: invalid duration 'fast'" in lines[2]
    assert lines[3].endswith("apps.worker.instanses: unknown key; did you mean 'instances'?")
    assert lines[4].endswith("apps.web.depends_on: dependency cycle: web -> worker -> web")
    assert err.source == path
    assert err.data["source"] == path


def test_a_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[procward]
max_instances = 8

[apps.web]
cmd = "gunicorn app:app --bind 0.0.0.0:80{instance}"
cwd = "site"
env = { MODE = "prod", SLOT = "{instance}" }
env_file = "../secrets/web.env"
instances = 4
restart = "always"
backoff = { initial = "500ms", multiplier = 3, max = "1m" }
max_restarts = 10
restart_window = "2m"
min_uptime = 5
min_start = 0.5
stop_signal = "SIGINT"
stop_timeout = "1m30s"
depends_on = ["db"]
autostart = false

[apps.db]
cmd = ["postgres", "-D", "/var/lib/pg"]
""",
    )
    config = load_config(path)
    assert list(config.apps) == ["web", "db"]  # file order
    assert config.source == path
    assert config.apps["web"] == AppSpec(
        name="web",
        cmd=("gunicorn", "app:app", "--bind", "0.0.0.0:80{instance}"),
        cwd=str(tmp_path / "site"),
        env={"MODE": "prod", "SLOT": "{instance}"},
        env_file=os.path.join(os.path.dirname(tmp_path), "secrets", "web.env"),
        instances=4,
        restart=RestartMode.ALWAYS,
        backoff=Backoff(initial=0.5, multiplier=3.0, max=60.0),
        max_restarts=10,
        restart_window=120.0,
        min_uptime=5.0,
        min_start=0.5,
        stop_signal="INT",
        stop_timeout=90.0,
        depends_on=("db",),
        autostart=False,
    )
    assert config.apps["db"] == AppSpec(
        name="db", cmd=("postgres", "-D", "/var/lib/pg"), cwd=str(tmp_path)
    )
    assert config.max_instances == 8
    assert config.dependencies() == {"web": ("db",), "db": ()}


def test_an_empty_file_has_no_apps(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config(
        apps={}, source=str(tmp_path / "procward.toml")
    )
    assert parse_config({"apps": {}}, base_dir="/") == Config(apps={}, source=None)


def test_a_toml_syntax_error_has_the_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[apps.web]\ncmd = "x"\ninstances = = 2\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 3, column 13" in message


def test_a_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=f"^{path}: no such file$"):
        load_config(path)


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: Is a directory"):
        load_config(str(tmp_path))


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "procward.toml"
    path.write_bytes(b'[apps.web]\ncmd = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(str(path))


def test_unknown_top_level_keys() -> None:
    assert problems_of({"app": {}, "servers": 1}) == [
        "app: unknown key; did you mean 'apps'?",
        "servers: unknown key; the keys of the file are: apps, procward, hooks, daemon",
    ]


def test_an_app_outside_apps_gets_a_hint() -> None:
    assert problems_of({"web": {"cmd": "x"}}) == [
        "web: unknown top-level key; did you mean [apps.web]?"
    ]


def test_apps_and_procward_must_be_tables() -> None:
    assert problems_of({"apps": [1], "procward": "x"}) == [
        "procward: must be a table, got 'x'",
        "apps: must be a table of apps, got an array",
    ]


def test_an_app_must_be_a_table() -> None:
    assert problems_of({"apps": {"web": "prog"}}) == [
        "apps.web: must be a table ([apps.web] with at least cmd), got 'prog'"
    ]


def test_nothing_is_returned_from_a_file_with_one_bad_app() -> None:
    data = {"apps": {"good": {"cmd": "x"}, "bad": {"cmd": "x", "instances": -1}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir="/")
    assert [p.app for p in info.value.problems] == ["bad"]


# -- app names --


def test_recycling_keys_read_a_cron_expression_and_durations() -> None:
    table = {"cmd": "x", "cron_restart": "@daily", "max_age": "1d", "max_age_jitter": "90m"}
    spec = parse_app("a", table, base_dir="/")
    assert (spec.cron_restart, spec.max_age, spec.max_age_jitter) == ("@daily", 86400.0, 5400.0)
    assert spec.to_table()["max_age"] == "1d" and spec.to_table()["max_age_jitter"] == "1h30m"
    assert parse_app("a", spec.to_table(), base_dir="/") == spec


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("cron_restart", "0 25 * * *", "is not a cron expression: '0 25 * * *' (hour: 25 is out"),
        ("cron_restart", "0 3 * *", "is not a cron expression: '0 3 * *' (has 4 fields"),
        ("cron_restart", 3, "must be a cron expression (a string), got 3"),
        ("max_age", "soon", "invalid duration 'soon'"),
        ("max_age", "0s", "must be more than 0s, got '0s'"),
    ],
)
def test_recycling_keys_refuse_bad_values_quoting_them(key: str, value: object, said: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"apps.a.{key}: {said}")):
        parse_app("a", {"cmd": "x", key: value}, base_dir="/")


def test_max_age_jitter_needs_max_age() -> None:
    with pytest.raises(ConfigError, match="max_age_jitter: has no max_age to vary"):
        parse_app("a", {"cmd": "x", "max_age_jitter": "1m"}, base_dir="/")


@pytest.mark.parametrize(
    "name", ["web", "a", "A1", "api.v2", "my_app", "my-app", "9lives", "x" * 64]
)
def test_valid_app_names(name: str) -> None:
    assert list(parse_config({"apps": {name: {"cmd": "x"}}}, base_dir="/").apps) == [name]


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "web app", "web/1", "..", ".hidden", "-x", "_x", "é"]
)
def test_invalid_app_names(name: str) -> None:
    problems = problems_of({"apps": {name: {"cmd": "x"}}})
    assert len(problems) == 1
    assert f"invalid app name {name!r}: use 1-64 letters, digits" in problems[0]


def test_validate_app_name() -> None:
    assert validate_app_name("web") == "web"
    with pytest.raises(ValueError, match="invalid app name 'a b'"):
        validate_app_name("a b")
    with pytest.raises(ValueError, match="reserved"):
        validate_app_name("all")


def test_all_is_reserved() -> None:
    assert problems_of({"apps": {"all": {"cmd": "x"}}}) == [
        "apps.all: 'all' is reserved (the CLI uses it for every app); choose another name"
    ]


# -- keys of an app --


def test_unknown_key_did_you_mean() -> None:
    assert app_problems(instanses=2) == [
        "apps.web.instanses: unknown key; did you mean 'instances'?"
    ]
    assert app_problems(stop_sginal="TERM") == [
        "apps.web.stop_sginal: unknown key; did you mean 'stop_signal'?"
    ]


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    [problem] = app_problems(zzz=1)
    assert problem.startswith("apps.web.zzz: unknown key; the keys of an app are: cmd, cwd, env,")


def test_cmd_is_required() -> None:
    assert problems_of({"apps": {"web": {}}}) == [
        "apps.web.cmd: missing: the command to run is required"
    ]


@pytest.mark.parametrize(
    ("cmd", "argv"),
    [
        ("python -m http.server", ("python", "-m", "http.server")),
        # What a shell leaves alone, procward does too: $$ is its literal dollar.
        ("sh -c 'echo $HOME; sleep 1'", ("sh", "-c", "echo $$HOME; sleep 1")),
        ("echo hi; exit 7", ("/bin/sh", "-c", "echo hi; exit 7")),
        (["prog", "", "a b"], ("prog", "", "a b")),
    ],
)
def test_cmd_forms(cmd: Any, argv: tuple[str, ...]) -> None:
    assert parse_app("web", {"cmd": cmd}, base_dir="/").cmd == argv


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        ("", "must name a program to run, got an empty command"),
        ("   ", "must name a program to run, got an empty command"),
        ([], "must name a program to run, got an empty command"),
        ([""], "must name a program to run, got an empty command"),
        (["prog", 1], "item 1 must be a string, got 1"),
        ("echo 'unbalanced", "cannot be split into arguments: No closing quotation"),
        (3, "must be a command line or an array of strings, got 3"),
        (["a\0b"], "must not contain NUL characters"),
    ],
)
def test_bad_cmd(cmd: Any, message: str) -> None:
    assert problems_of({"apps": {"web": {"cmd": cmd}}}) == [f"apps.web.cmd: {message}"]


@pytest.mark.parametrize("key", ["cwd", "env_file"])
def test_paths_resolve_against_the_config_directory(key: str) -> None:
    def read(path: str) -> Any:
        return getattr(parse_app("web", {"cmd": "x", key: path}, base_dir="/etc/pw"), key)

    assert read("app") == "/etc/pw/app"
    assert read("./a/../b") == "/etc/pw/b"
    assert read("/abs//kept") == "/abs//kept"  # absolute paths are taken as written
    assert app_problems(**{key: 1}) == [f"apps.web.{key}: must be a path (a string), got 1"]
    assert app_problems(**{key: ""}) == [
        f"apps.web.{key}: must be a non-empty path without NUL characters, got ''"
    ]


def test_env() -> None:
    assert parse_app("web", {"cmd": "x", "env": {"A": "1"}}, base_dir="/").env == {"A": "1"}
    assert app_problems(env={"PORT": 8080, "DEBUG": True, "OK": "x", "A=B": "y", "N": "\0"}) == [
        'apps.web.env.PORT: must be a string, got 8080 (quote it: "8080")',
        'apps.web.env.DEBUG: must be a string, got true (quote it: "true")',
        "apps.web.env.A=B: is not a valid variable name",
        "apps.web.env.N: must not contain NUL characters",
    ]
    assert app_problems(env=["A=1"]) == [
        'apps.web.env: must be a table of variables (NAME = "value"), got an array'
    ]


@pytest.mark.parametrize("key", ["instances", "max_restarts"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [(-1, "-1"), ("two", "'two'"), (1.5, "1.5"), (True, "true"), ([], "an array")],
)
def test_counts(key: str, value: Any, shown: str) -> None:
    assert app_problems(**{key: value}) == [f"apps.web.{key}: must be an integer >= 0, got {shown}"]


def test_zero_instances_is_allowed() -> None:
    assert parse_app("web", {"cmd": "x", "instances": 0}, base_dir="/").instances == 0


@pytest.mark.parametrize("mode", list(RestartMode))
def test_restart_modes(mode: RestartMode) -> None:
    assert parse_app("web", {"cmd": "x", "restart": mode.value}, base_dir="/").restart is mode


def test_unknown_restart_mode_lists_the_choices() -> None:
    assert app_problems(restart="on_failure") == [
        "apps.web.restart: must be one of 'on-failure', 'always', 'never', got 'on_failure'"
        " (did you mean 'on-failure'?)"
    ]
    assert app_problems(restart=1) == [
        "apps.web.restart: must be one of 'on-failure', 'always', 'never', got 1"
    ]


@pytest.mark.parametrize("key", ["restart_window", "min_uptime", "min_start", "stop_timeout"])
def test_durations(key: str) -> None:
    def read(value: Any) -> Any:
        return getattr(parse_app("web", {"cmd": "x", key: value}, base_dir="/"), key)

    assert read("500ms") == 0.5
    assert read("1m 30s") == 90.0
    assert read(15) == 15.0
    assert read(0.25) == 0.25
    [negative] = app_problems(**{key: -1})
    assert negative.startswith(f"apps.web.{key}: invalid duration -1 (negative): use a number")
    [bad] = app_problems(**{key: "soon"})
    assert bad.startswith(f"apps.web.{key}: invalid duration 'soon': use a number")
    assert app_problems(**{key: [1]}) == [
        f"apps.web.{key}: must be a duration like '15s' or a number of seconds, got an array"
    ]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("TERM", "TERM"),
        ("SIGTERM", "TERM"),
        ("term", "TERM"),
        ("sigint", "INT"),
        ("15", "TERM"),
        (15, "TERM"),
        (9, "KILL"),
        (" HUP ", "HUP"),
        ("USR1", "USR1"),
        ("IOT", "ABRT"),  # an alias: stored under the canonical name
    ],
)
def test_stop_signals(value: Any, name: str) -> None:
    assert parse_app("web", {"cmd": "x", "stop_signal": value}, base_dir="/").stop_signal == name


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("TERMM", "'TERMM' (did you mean 'TERM'?)"),
        ("0", "'0'"),
        (999, "999"),
        (True, "true"),
        ("", "''"),
        ("SIG", "'SIG'"),
        ("SIG_DFL", "'SIG_DFL'"),
        (1.5, "1.5"),
    ],
)
def test_unknown_signals(value: Any, shown: str) -> None:
    [problem] = app_problems(stop_signal=value)
    assert problem.startswith(f"apps.web.stop_signal: unknown signal {shown}; use a name like")


def test_backoff() -> None:
    spec = parse_app("web", {"cmd": "x", "backoff": {"initial": "100ms"}}, base_dir="/")
    assert spec.backoff == Backoff(initial=0.1, multiplier=2.0, max=30.0)
    assert app_problems(backoff={"intial": "1s", "multiplier": 0.5, "max": "x"}) == [
        "apps.web.backoff.intial: unknown key; did you mean 'initial'?",
        "apps.web.backoff.multiplier: must be a number >= 1, got 0.5",
        "apps.web.backoff.max: invalid duration 'x': use a number of seconds >= 0, or a string "
        "like '500ms', '15s', '1m30s', '1.5s', '2h' (units: us, ms, s, m, h, d)",
    ]
    assert app_problems(backoff={"initial": "1m", "max": "10s"}) == [
        "apps.web.backoff.max: must be >= initial ('1m'), got '10s'"
    ]
    assert app_problems(backoff="1s") == [
        "apps.web.backoff: must be a table with initial, multiplier and max, got '1s'"
    ]
    assert app_problems(backoff={"multiplier": True}) == [
        "apps.web.backoff.multiplier: must be a number >= 1, got true"
    ]


def test_autostart() -> None:
    assert parse_app("web", {"cmd": "x", "autostart": False}, base_dir="/").autostart is False
    assert app_problems(autostart="no") == ["apps.web.autostart: must be true or false, got 'no'"]


# -- depends_on --


def test_depends_on_shape() -> None:
    assert app_problems(depends_on="db") == [
        "apps.web.depends_on: must be an array of app names, like [\"db\"], got 'db'"
    ]
    assert app_problems(depends_on=[1]) == [
        "apps.web.depends_on: item 0 must be an app name (a string), got 1"
    ]
    data = {"apps": {"db": {"cmd": "x"}, "web": {"cmd": "x", "depends_on": ["db", "db"]}}}
    assert problems_of(data) == ["apps.web.depends_on: names 'db' more than once"]


def test_depends_on_an_unknown_app() -> None:
    data = {"apps": {"db": {"cmd": "x"}, "web": {"cmd": "x", "depends_on": ["dbb", "cache"]}}}
    assert problems_of(data) == [
        "apps.web.depends_on: 'dbb' is not an app in this file (did you mean 'db'?)",
        "apps.web.depends_on: 'cache' is not an app in this file",
    ]


def test_an_app_depending_on_itself() -> None:
    assert app_problems(depends_on=["web"]) == [
        "apps.web.depends_on: an app cannot depend on itself"
    ]
    with pytest.raises(ConfigError, match="cannot depend on itself"):
        parse_app("web", {"cmd": "x", "depends_on": ["web"]}, base_dir="/")


def test_cycles_are_reported_with_their_path() -> None:
    apps = {
        "web": {"cmd": "x", "depends_on": ["api"]},
        "api": {"cmd": "x", "depends_on": ["cache", "db"]},
        "db": {"cmd": "x"},
        "cache": {"cmd": "x", "depends_on": ["web"]},
        "a": {"cmd": "x", "depends_on": ["b"]},
        "b": {"cmd": "x", "depends_on": ["a"]},
    }
    assert problems_of({"apps": apps}) == [
        "apps.a.depends_on: dependency cycle: a -> b -> a",
        "apps.api.depends_on: dependency cycle: api -> cache -> web -> api",
    ]


def test_a_cycle_is_found_even_through_an_app_with_other_problems() -> None:
    apps = {
        "web": {"cmd": "x", "depends_on": ["worker"], "instances": -1},
        "worker": {"depends_on": ["web"]},
    }
    assert problems_of({"apps": apps}) == [
        "apps.web.instances: must be an integer >= 0, got -1",
        "apps.worker.cmd: missing: the command to run is required",
        "apps.web.depends_on: dependency cycle: web -> worker -> web",
    ]


def test_parse_app_reports_every_problem_of_the_app_without_a_file_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_app("web", {"cmd": 1, "instances": "x", "bogus": 1}, base_dir="/")
    assert info.value.source is None
    assert str(info.value).splitlines() == [
        "apps.web.cmd: must be a command line or an array of strings, got 1",
        "apps.web.instances: must be an integer >= 0, got 'x'",
        "apps.web.bogus: unknown key; the keys of an app are: " + ", ".join(APP_KEYS),
    ]
    assert info.value.problems[0] == Problem("web", "cmd", info.value.problems[0].message)


APP_KEYS = [key for key in AppSpec._fields if key != "name"]
A_VALID_VALUE = {
    "cmd": "x",
    "cwd": "/",
    "env": {},
    "env_file": "/e",
    "secrets": ["stripe_key"],
    "secrets_as": "files",
    "inherit_env": ["VIRTUAL_ENV"],
    "instances": 2,
    "restart": "never",
    "reload": "surge",
    "backoff": {},
    "max_restarts": 1,
    "restart_window": "1s",
    "min_uptime": "1s",
    "min_start": "2s",
    "stop_signal": "INT",
    "stop_timeout": "1s",
    "depends_on": [],
    "autostart": False,
    "merge_logs": True,
    "log_time": True,
    "log_format": "json",
    "log_max_size": "1MB",
    "log_backups": 2,
    "ready": {"exec": "true"},
    "health": {"exec": "true"},
    "sockets": {"http": "127.0.0.1:8000"},
    "watch": ["src"],
    "commands": {"migrate": "python manage.py migrate"},
    # Its own user and group: valid whether or not the tests run as root.
    "user": pwd.getpwuid(os.geteuid()).pw_name,
    "group": grp.getgrgid(os.getegid()).gr_name,
    "umask": "027",
    "log_owner": "app",
    "limits": {"nofile": 1024},
    "nice": 5,
    "oom_score_adj": 100,
    "max_memory": "500MB",
    "memory_max": "1GB",
    "memory_high": "800MB",
    "cpu_max": "50%",
    "pids_max": 64,
    "cron_restart": "0 3 * * mon-fri",
    "max_age": "24h",
    "max_age_jitter": "10m",
    "hooks": {"h": {"on": ["crashed"], "run": "x"}},
    "placement": {"count": 2, "labels": {"role": "web"}},
}


def test_resource_keys_read_sizes_shares_and_counts() -> None:
    spec = parse_app("a", {"cmd": "x", "cpu_max": "250%", "max_memory": "1.5GB"}, base_dir="/")
    assert spec.cpu_max == 250.0 and spec.max_memory == 3 << 29
    assert parse_app("a", spec.to_table(), base_dir="/") == spec
    for key, bad, said in [
        ("cpu_max", 0.5, "must be a share of one core like '50%'"),
        ("cpu_max", "0%", "must be a share of one core"),
        ("pids_max", 0, "must be a number of processes, at least 1"),
        ("memory_max", "lots", "must be a size like '10MB'"),
    ]:
        with pytest.raises(ConfigError, match=f"{key}: {said}"):
            parse_app("a", {"cmd": "x", key: bad}, base_dir="/")


@pytest.mark.parametrize(
    ("text", "size"),
    [("1MB", 1 << 20), ("512KB", 512 << 10), ("2 MiB", 2 << 20), ("1g", 1 << 30), (4096, 4096)],
)
def test_log_sizes(text: object, size: int) -> None:
    assert parse_app("a", {"cmd": "x", "log_max_size": text}, base_dir="/").log_max_size == size


@pytest.mark.parametrize("text", ["big", "-1MB", 0, True, "1 parsec", "MB"])
def test_bad_log_sizes(text: object) -> None:
    with pytest.raises(ConfigError, match="log_max_size: must be a size"):
        parse_app("a", {"cmd": "x", "log_max_size": text}, base_dir="/")


def test_commands_are_named_command_lines() -> None:
    spec = parse_app(
        "a",
        {"cmd": "x", "commands": {"migrate": "manage.py migrate --plan", "sh": ["sh", "-i"]}},
        base_dir="/",
    )
    assert spec.commands == {"migrate": ("manage.py", "migrate", "--plan"), "sh": ("sh", "-i")}


def test_bad_commands_are_each_reported() -> None:
    table = {"cmd": "x", "commands": {"ok": "true", "bad name": "x", "empty": [], "quote": "'"}}
    with pytest.raises(ConfigError) as caught:
        parse_app("a", table, base_dir="/")
    text = str(caught.value)
    assert "commands.bad name: is not a command name" in text
    assert "commands.empty: must name a program to run" in text
    assert "commands.quote: cannot be split into arguments" in text
    assert "commands.ok" not in text
    with pytest.raises(ConfigError, match='commands: must be a table of name = "command line"'):
        parse_app("a", {"cmd": "x", "commands": "migrate"}, base_dir="/")


def test_every_spec_field_is_a_config_key_and_nothing_else() -> None:
    assert sorted(A_VALID_VALUE) == sorted(APP_KEYS)
    spec = parse_app("web", A_VALID_VALUE, base_dir="/")
    defaults = AppSpec(name="web", cmd=("x",))
    changed = {k for k in APP_KEYS if getattr(spec, k) != getattr(defaults, k)}
    assert changed == set(APP_KEYS) - {"cmd", "backoff", "depends_on", "env"}


# -- a ready probe must judge the new process, not another one (issue 10, item 1) --


@pytest.mark.parametrize(
    ("ready", "held"),
    [
        ({"http": "http://127.0.0.1:8000/ready"}, "127.0.0.1:8000"),
        ({"tcp": "127.0.0.1:8000"}, "127.0.0.1:8000"),
        ({"tcp": "localhost:8000"}, "0.0.0.0:8000"),
        ({"http": "http://localhost:8000/"}, "8000"),
        ({"tcp": "127.0.0.1:${PORT}"}, "127.0.0.1:8000"),  # PORT from env, below
        ({"tcp": "127.0.0.1:800{instance}"}, "127.0.0.1:8000"),
    ],
)
def test_a_ready_probe_on_a_held_socket_is_refused(ready: dict[str, str], held: str) -> None:
    table = {"cmd": "x", "sockets": {"http": held}, "ready": ready, "env": {"PORT": "8000"}}
    with pytest.raises(ConfigError) as caught:
        parse_app("web", table, base_dir="/")
    [problem] = caught.value.problems
    assert problem.key == f"ready.{next(iter(ready))}"
    assert "is the app's held socket 'http', which every process of the app answers" in str(problem)
    assert "use notify" in problem.message


def test_a_surge_app_cannot_be_judged_by_tcp_or_http() -> None:
    for ready in ({"tcp": "127.0.0.1:9000"}, {"http": "http://127.0.0.1:9000/"}):
        with pytest.raises(ConfigError, match='with reload = "surge" the new process starts'):
            parse_app("web", {"cmd": "x", "reload": "surge", "ready": ready}, base_dir="/")


@pytest.mark.parametrize(
    "table",
    [
        {"sockets": {"http": "127.0.0.1:8000"}, "ready": {"notify": True}, "reload": "surge"},
        {"sockets": {"http": "127.0.0.1:8000"}, "ready": {"tcp": "127.0.0.1:9000"}},
        {"sockets": {"http": "127.0.0.1:8000"}, "ready": {"tcp": "127.0.0.2:8000"}},
        {"sockets": {"api": "/run/api.sock"}, "ready": {"http": "http://127.0.0.1:8000/"}},
        {"sockets": {"http": "127.0.0.1:8000"}, "ready": {"tcp": "127.0.0.1:$ADMIN"}},
        {"ready": {"tcp": "127.0.0.1:8000"}},
        {"reload": "surge", "ready": {"exec": "true"}},
    ],
)
def test_ready_probes_that_judge_the_process_itself_are_accepted(table: dict[str, Any]) -> None:
    parse_app("web", {"cmd": "x", **table}, base_dir="/")


def test_a_pm2_key_is_not_mistaken_for_a_procward_one() -> None:
    [problem] = app_problems(max_memory_restart="300M")
    assert problem.startswith("apps.web.max_memory_restart: unknown key; 'max_memory_restart'")
    assert "use 'max_memory'" in problem and "did you mean" not in problem
    assert app_problems(stopwaitsecs=10) == [
        "apps.web.stopwaitsecs: unknown key; 'stopwaitsecs' is supervisord's: use 'stop_timeout'"
    ]


def test_a_duplicate_key_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
[apps.web]
cmd = "a"
instances = 2
  cmd = "b"
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: invalid TOML: 'cmd' of [apps.web] is set twice (at line 4, column 12)"
    )


# -- the file's directory, its settings, and a cap on instances (issue 10, items 15 and 18) --


def test_an_app_of_a_file_runs_in_the_files_directory_by_default() -> None:
    config = parse_config(
        {"apps": {"web": {"cmd": "python3 app.py"}, "api": {"cmd": "x", "cwd": "api"}}},
        base_dir="/srv/site",
    )
    assert config.apps["web"].cwd == "/srv/site"
    assert config.apps["api"].cwd == "/srv/site/api"
    watched = parse_config({"apps": {"w": {"cmd": "x", "watch": True}}}, base_dir="/srv/site")
    assert watched.apps["w"].watch is not None and watched.apps["w"].watch.paths == ("/srv/site",)
    assert parse_app("adhoc", {"cmd": "x"}, base_dir="/").cwd is None


def test_unknown_settings_are_refused() -> None:
    assert problems_of({"procward": {"bogus": 1, "max_instances": 0}}) == [
        "procward.bogus: unknown key; the keys of [procward] are: "
        "max_instances, max_total_instances, console_logs, log_files",
        "procward.max_instances: must be an integer from 1 to 100000, got 0",
    ]


def test_instances_are_capped_unless_the_file_says_more() -> None:
    [problem, total] = app_problems(instances=100_000)
    assert problem == (
        "apps.web.instances: 100000 is more than max_instances (256); "
        "if you mean it, raise it: [procward] max_instances = 100000"
    )
    assert total.startswith("instances: its apps have 100000 instances in all")
    app_problems_ok = {
        "procward": {"max_instances": 300},
        "apps": {"web": {"cmd": "x", "instances": 300}},
    }
    assert parse_config(app_problems_ok, base_dir="/").apps["web"].instances == 300
    with pytest.raises(ConfigError, match="more than max_instances"):
        parse_app("web", {"cmd": "x", "instances": 257}, base_dir="/", max_instances=256)


# -- text that cannot reach an exec or a file (issue 11, item 11) --


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"cmd": ["\ud800"]}, "cmd[0]"),
        ({"cmd": "x", "env": {"A\ud800": "1"}}, "env"),
        ({"cmd": "x", "env": {"A": "\udc80"}}, "env.A"),
        ({"cmd": "x", "commands": {"migrate": "run \0"}}, "commands.migrate"),
        ({"cmd": "x", "health": {"http": "http://127.0.0.1:1/\0"}}, "health.http"),
        ({"cmd": "x", "watch": {"paths": ["/srv/\ud800"]}}, "watch.paths[0]"),
    ],
)
def test_text_with_nul_or_a_lone_surrogate_is_refused_with_its_key(
    table: dict[str, Any], where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_app("web", table, base_dir="/")
    [problem] = [p for p in info.value.problems if p.key == where]
    assert "NUL" in problem.message or "lone surrogate" in problem.message


def test_a_toml_file_with_nul_gives_the_same_error(tmp_path) -> None:
    path = tmp_path / "procward.toml"
    path.write_text('[apps.web]\ncmd = "x"\nhealth = { http = "http://127.0.0.1:1/\\u0000" }\n')
    with pytest.raises(ConfigError, match=r"apps.web.health.http: must not contain NUL"):
        load_config(str(path))


def test_the_console_settings_are_read_for_run_in_the_foreground() -> None:
    plain = parse_config({"apps": {}}, base_dir="/")
    assert (plain.console_logs, plain.log_files) == (False, True)
    config = parse_config(
        {"procward": {"console_logs": True, "log_files": False}, "apps": {}}, base_dir="/"
    )
    assert (config.console_logs, config.log_files) == (True, False)
    assert problems_of({"procward": {"console_logs": "yes"}})[0].startswith(
        "procward.console_logs: "
    )
