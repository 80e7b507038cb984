"""AppSpec, launch expansion, env files, Problem/ConfigError, and the to_table round trip."""

from __future__ import annotations

import signal
import string
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit._errors import InvalidParams, RpcError
from procward.supervision import config
from procward.supervision.config import parse_app
from procward.supervision.spec import (
    AppSpec,
    Backoff,
    ConfigError,
    Launch,
    Problem,
    RestartMode,
    expand_arg,
    expand_instance,
    launch,
    parse_env_file,
)


def spec(**fields: object) -> AppSpec:
    fields.setdefault("name", "web")
    fields.setdefault("cmd", ("prog",))
    return AppSpec(**fields)  # type: ignore[arg-type]


def test_defaults_match_the_design() -> None:
    s = AppSpec(name="web", cmd=("prog",))
    assert (s.instances, s.restart, s.max_restarts, s.restart_window) == (
        1,
        RestartMode.ON_FAILURE,
        5,
        60.0,
    )
    assert s.backoff == Backoff(initial=1.0, multiplier=2.0, max=30.0)
    assert (s.stop_signal, s.stop_timeout, s.depends_on, s.autostart) == ("TERM", 10.0, (), True)


def test_specs_are_frozen() -> None:
    with pytest.raises(AttributeError, match="frozen"):
        spec().instances = 3  # type: ignore[misc]


def test_restart_modes_are_their_config_spelling() -> None:
    assert [str(m) for m in RestartMode] == ["on-failure", "always", "never"]


# -- launch --


def test_launch_environment_layers() -> None:
    s = spec(cmd=("prog",), env={"PORT": "80{instance}", "HOME": "/srv"}, cwd="/srv/app")
    plan = launch(s, 2, {"HOME": "/root", "PATH": "/bin", "PROCWARD_APP": "spoofed"})
    assert plan == Launch(
        argv=("prog",),
        env={
            "HOME": "/srv",
            "PATH": "/bin",
            "PROCWARD_APP": "web",
            "PORT": "802",
            "PROCWARD_INDEX": "2",
        },
        cwd="/srv/app",
    )


def test_launch_does_not_touch_its_inputs() -> None:
    base = {"A": "1"}
    s = spec(env={"B": "{instance}"})
    launch(s, 0, base)
    assert base == {"A": "1"}
    assert s.env == {"B": "{instance}"}


def test_launch_refuses_a_negative_index() -> None:
    with pytest.raises(ValueError, match="index"):
        launch(spec(), -1, {})


def test_argv_expansion() -> None:
    s = AppSpec(
        name="web",
        cmd=(
            "serve",
            "--port=80{instance}",
            "--home=${HOME}/x",
            "--user=$USER",
            "--price=$$5",
            "{{literal}}",
            "${MISSING}|$MISSING",
            "--name=${PROCWARD_APP}-$PROCWARD_INDEX",
            "--env=$PORT",
        ),
        env={"PORT": "90{instance}"},
    )
    plan = launch(s, 3, {"HOME": "/home/me", "USER": "me"})
    assert plan.argv == (
        "serve",
        "--port=803",
        "--home=/home/me/x",
        "--user=me",
        "--price=$5",
        "{literal}",
        "|",
        "--name=web-3",
        "--env=903",
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("awk '{print $1}'", "awk '{print $1}'"),  # other braces and `$<digit>` stay
        ("a$", "a$"),
        ("$-x", "$-x"),
        ("${unterminated", "${unterminated"),
        ("${V}${V}", "vv"),
        ("$V_x", ""),  # the name is as long as it can be
        ("${V}_x", "v_x"),
        ("$$V", "$V"),
        ("$$$V", "$v"),
        ("{{instance}}", "{instance}"),
        ("{{{instance}}}", "{7}"),
        ("${instance}", ""),  # a variable called "instance", not the index
        ("{instance}{instance}", "77"),
        ("}{", "}{"),
    ],
)
def test_expand_arg_edge_cases(template: str, expected: str) -> None:
    assert expand_arg(template, 7, {"V": "v"}) == expected


def test_a_variable_value_is_not_expanded_again() -> None:
    env = {"A": "${B}{instance}$$", "B": "b"}
    assert expand_arg("$A", 1, env) == "${B}{instance}$$"


def test_env_values_expand_the_instance_only() -> None:
    assert expand_instance("$HOME/{instance}/{{x}}", 4) == "$HOME/4/{x}"


safe_text = st.text(st.characters(exclude_characters="${}", codec="utf-8"))


@given(safe_text, st.integers(0, 10_000))
def test_text_without_markers_is_unchanged(text: str, index: int) -> None:
    assert expand_arg(text, index, {"X": "y"}) == text
    assert expand_instance(text, index) == text


@given(st.lists(st.sampled_from(["{instance}", "{{", "}}", "$$", "${X}", "$X", "a", " "])))
def test_expansion_is_token_by_token(pieces: list[str]) -> None:
    meaning = {"{instance}": "5", "{{": "{", "}}": "}", "$$": "$", "${X}": "x", "$X": "x"}
    # "$X" followed by "a" would read as the variable "Xa"; keep tokens apart with a space.
    template = " ".join(pieces)
    expected = " ".join(meaning.get(p, p) for p in pieces)
    assert expand_arg(template, 5, {"X": "x"}) == expected


# -- env files --


def test_parse_env_file() -> None:
    text = """
# a comment
   # an indented comment
PLAIN=value
SPACED = spaced value
export EXPORTED=yes
export\tTABBED=1
SINGLE='it''s $HOME'
SQ='a "b" c'
DQ="line1\\nline2 \\"q\\" \\\\ \\t"
EMPTY=
EQUALS=a=b=c
HASH=value # not a comment
"""
    assert parse_env_file(text) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "TABBED": "1",
        "SINGLE": "it''s $HOME",
        "SQ": 'a "b" c',
        "DQ": 'line1\nline2 "q" \\ \\t',
        "EMPTY": "",
        "EQUALS": "a=b=c",
        "HASH": "value # not a comment",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("JUST_A_NAME", "line 1: expected KEY=VALUE, got 'JUST_A_NAME'"),
        ("A=1\n1BAD=x", "line 2: expected KEY=VALUE, got '1BAD=x'"),
        ("=x", "line 1: expected KEY=VALUE"),
        ('A="open', 'line 1: unterminated " quote'),
        ("A='", "line 1: unterminated ' quote"),
    ],
)
def test_parse_env_file_refusals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        parse_env_file(text)


def test_launch_reads_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "web.env"
    env_file.write_text("SECRET='s3cret'\nPORT=1\nFROM_FILE=yes\n")
    s = spec(env_file=str(env_file), env={"PORT": "2"}, cmd=("prog", "--secret=$SECRET"))
    plan = launch(s, 0, {"SECRET": "base", "PATH": "/bin"})
    assert plan.argv == ("prog", "--secret=s3cret")
    assert plan.env["PORT"] == "2"  # spec.env wins over the file
    assert plan.env["FROM_FILE"] == "yes"
    assert plan.env["PATH"] == "/bin"


def test_the_env_file_is_read_at_each_launch(tmp_path: Path) -> None:
    env_file = tmp_path / "web.env"
    env_file.write_text("V=1\n")
    s = spec(env_file=str(env_file))
    assert launch(s, 0, {}).env["V"] == "1"
    env_file.write_text("V=2\n")
    assert launch(s, 0, {}).env["V"] == "2"


def test_a_missing_env_file_names_the_app_and_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.env")
    with pytest.raises(ConfigError) as info:
        launch(spec(name="api", env_file=missing), 0, {})
    assert str(info.value) == f"apps.api.env_file: cannot read {missing}: No such file or directory"
    assert info.value.problems == (Problem("api", "env_file", info.value.problems[0].message),)


def test_a_bad_env_file_names_the_line(tmp_path: Path) -> None:
    env_file = tmp_path / "web.env"
    env_file.write_text("OK=1\nnot a line\n")
    with pytest.raises(ConfigError, match=r"apps\.web\.env_file: .*web\.env, line 2: expected"):
        launch(spec(env_file=str(env_file)), 0, {})


def test_a_binary_env_file_is_a_config_error(tmp_path: Path) -> None:
    env_file = tmp_path / "web.env"
    env_file.write_bytes(b"A=\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        launch(spec(env_file=str(env_file)), 0, {})


# -- Problem and ConfigError --


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (
            Problem("web", "instances", "must be an integer >= 0, got 'two'"),
            "apps.web.instances: must be an integer >= 0, got 'two'",
        ),
        (Problem("web", None, "must be a table"), "apps.web: must be a table"),
        (Problem(None, "servers", "unknown key"), "servers: unknown key"),
        (Problem(None, None, "no such file"), "no such file"),
        (Problem("my.app", "cmd", "missing"), 'apps."my.app".cmd: missing'),
        (Problem("web", "backoff.max", "too small"), "apps.web.backoff.max: too small"),
    ],
)
def test_problem_text(problem: Problem, text: str) -> None:
    assert str(problem) == text


def test_config_error_lists_every_problem_under_the_file_name() -> None:
    err = ConfigError([Problem("a", "cmd", "missing"), Problem(None, "x", "unknown key")], "p.toml")
    assert str(err) == "p.toml: apps.a.cmd: missing\np.toml: x: unknown key"
    assert err.source == "p.toml"


def test_config_error_is_invalid_params_on_the_wire() -> None:
    err = ConfigError([Problem("a", "cmd", "missing")], "p.toml")
    assert isinstance(err, InvalidParams)
    wire = err.to_wire()
    assert wire["code"] == -32602
    assert wire["data"] == {
        "source": "p.toml",
        "problems": [{"app": "a", "key": "cmd", "message": "missing"}],
    }
    back = RpcError.from_code(wire["code"], wire["message"], wire["data"])
    assert isinstance(back, InvalidParams)
    assert type(RpcError.from_code(-32602, "x")) is InvalidParams  # ConfigError claims no code


def test_config_re_exports_the_errors() -> None:
    assert config.ConfigError is ConfigError
    assert config.Problem is Problem


# -- to_table: how specs are persisted --


def test_to_table_is_toml_shaped() -> None:
    s = AppSpec(
        name="web",
        cmd=("python", "-m", "http.server"),
        cwd="/srv",
        env={"A": "b"},
        restart=RestartMode.ALWAYS,
        backoff=Backoff(initial=0.5, multiplier=1.5, max=90),
        stop_timeout=0.00025,
        depends_on=("db",),
    )
    table = s.to_table()
    assert table["cmd"] == ["python", "-m", "http.server"]
    assert table["restart"] == "always"
    assert type(table["restart"]) is str
    assert table["backoff"] == {"initial": "500ms", "multiplier": 1.5, "max": "1m30s"}
    assert table["stop_timeout"] == 0.00025  # not whole milliseconds: kept as a number
    assert table["restart_window"] == "1m"
    assert table["depends_on"] == ["db"]
    assert "env_file" not in table  # TOML has no null
    assert parse_app("web", table, base_dir="/") == s


NAME_START = string.ascii_letters + string.digits
names = st.builds(
    str.__add__,
    st.sampled_from(NAME_START),
    st.text(NAME_START + "_-.", max_size=20),
).filter(lambda n: n != "all")
words = st.text(st.characters(exclude_characters="\0", codec="utf-8"))
paths = st.lists(st.text(string.ascii_letters + "._- ", min_size=1), max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)
durations = st.one_of(
    st.integers(0, 10**9).map(lambda ms: ms / 1000),
    st.floats(0, 10**6, allow_nan=False, allow_infinity=False),
)
env_names = st.text(st.characters(exclude_characters="\0=", codec="utf-8"), min_size=1)
signals = st.sampled_from([s.name.removeprefix("SIG") for s in signal.Signals])


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    initial = draw(durations)
    multiplier = draw(st.floats(1, 100))
    return Backoff(initial, multiplier, max=initial + draw(durations))


@st.composite
def app_specs(draw: st.DrawFn) -> AppSpec:
    name = draw(names)
    return AppSpec(
        name=name,
        cmd=(draw(words.filter(bool)), *draw(st.lists(words, max_size=5))),
        cwd=draw(st.none() | paths),
        env=draw(st.dictionaries(env_names, words, max_size=4)),
        env_file=draw(st.none() | paths),
        instances=draw(st.integers(0, 1000)),
        restart=draw(st.sampled_from(RestartMode)),
        backoff=draw(backoffs()),
        max_restarts=draw(st.integers(0, 100)),
        restart_window=draw(durations),
        min_uptime=draw(durations),
        min_start=draw(durations),
        stop_signal=draw(signals),
        stop_timeout=draw(durations),
        depends_on=tuple(draw(st.lists(names.filter(lambda n: n != name), unique=True))),
        autostart=draw(st.booleans()),
        commands=draw(
            st.dictionaries(
                names,
                st.lists(words, min_size=1).map(tuple).filter(lambda c: bool(c[0])),
                max_size=3,
            )
        ),
    )


@given(app_specs())
def test_to_table_round_trips(s: AppSpec) -> None:
    assert parse_app(s.name, s.to_table(), base_dir="/") == s


@given(app_specs())
def test_to_table_round_trips_through_toml_text(s: AppSpec) -> None:
    text = _toml(s.to_table())
    assert parse_app(s.name, tomllib.loads(text), base_dir="/") == s


def _toml(table: dict[str, object]) -> str:
    """Just enough of a TOML writer for a spec table: one line per key, inline tables."""

    def text(s: str) -> str:
        escaped = (
            f"\\u{ord(c):04x}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in s
        )
        return '"' + "".join(escaped) + '"'

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return text(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{text(k)} = {value(x)}" for k, x in v.items()) + "}"
        assert isinstance(v, list)
        return "[" + ", ".join(value(x) for x in v) + "]"

    return "".join(f"{key} = {value(v)}\n" for key, v in table.items())
