"""The ``watch`` key as the config states it: its three forms, ignores, every mistake located."""

from __future__ import annotations

import string
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.supervision.config import ConfigError, parse_app, parse_config
from procward.supervision.spec import AppSpec
from procward.supervision.watchrules import DEFAULT_DELAY, DEFAULT_IGNORE, Watch, read_watch

from .test_spec import _toml


def watch_of(value: object, **keys: object) -> Watch | None:
    return parse_app("web", {"cmd": "srv", "watch": value, **keys}, base_dir="/etc/pw").watch


def problems(value: object, **keys: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_app("web", {"cmd": "srv", "watch": value, **keys}, base_dir="/etc/pw")
    return [str(p) for p in caught.value.problems]


def test_true_watches_the_cwd_with_the_defaults() -> None:
    assert watch_of(True, cwd="app") == Watch(paths=("/etc/pw/app",))
    assert watch_of(True, cwd="app") == Watch(("/etc/pw/app",), DEFAULT_IGNORE, DEFAULT_DELAY)


def test_false_is_no_watch() -> None:
    assert watch_of(False) is None
    assert parse_app("web", {"cmd": "srv"}, base_dir="/").watch is None


def test_a_list_is_paths_resolved_against_the_config_directory() -> None:
    assert watch_of(["src", "/abs/conf.toml", "./src/../lib"]) == Watch(
        paths=("/etc/pw/src", "/abs/conf.toml", "/etc/pw/lib")
    )


def test_a_table_adds_its_ignores_to_the_defaults() -> None:
    got = watch_of({"paths": ["src"], "ignore": ["*.tmp", ".git"], "delay": "2s"})
    assert got == Watch(paths=("/etc/pw/src",), ignore=(*DEFAULT_IGNORE, "*.tmp"), delay=2.0)


def test_a_table_without_paths_watches_the_cwd() -> None:
    assert watch_of({"delay": "100ms"}, cwd="/srv") == Watch(paths=("/srv",), delay=0.1)


def test_true_without_a_cwd_says_what_to_do() -> None:
    [problem] = problems(True)
    assert problem.startswith("apps.web.watch: watches the app's cwd")
    assert 'set cwd = "."' in problem


def test_every_mistake_is_located_at_once() -> None:
    found = problems({"paths": "src", "ignore": [1], "delay": "soon", "debounce": 1})
    assert found[0].startswith("apps.web.watch.paths: must be a non-empty array of paths")
    assert found[1].startswith("apps.web.watch.ignore: item 0 must be a non-empty pattern")
    assert found[2].startswith("apps.web.watch.delay: ")
    assert found[3].startswith("apps.web.watch.debounce: unknown key")
    assert len(found) == 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "must be true, an array of paths, or a table"),
        ([], "must be a non-empty array of paths"),
        (["src", ""], "item 1 must be a non-empty path"),
        ({"paths": ["src"], "delay": "2h"}, "delay: must be at most 1h"),
        ({"paths": ["src"], "delay": -1}, "delay: "),
        ({"paths": ["src"], "ignore": "*.log"}, "ignore: must be an array of patterns"),
    ],
)
def test_bad_values(value: object, message: str) -> None:
    [problem] = problems(value)
    assert problem.startswith("apps.web.watch"), problem
    assert message in problem


def test_problems_of_watch_come_with_those_of_other_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"apps": {"a": {"cmd": "x", "watch": 3}, "b": {"cmd": "y", "instances": -1}}},
            base_dir="/",
        )
    locations = [p.location for p in caught.value.problems]
    assert locations == ["apps.a.watch", "apps.b.instances"]


# -- which changes count --


@pytest.mark.parametrize(
    "path",
    [
        "/app/.git/index",
        "/app/src/__pycache__/m.cpython-311.pyc",
        "/app/x.pyc",
        "/app/logs/out.log",
        "/app/web/node_modules/left-pad/index.js",
        "/app/.venv/lib/site.py",
        "/app/build/cache/a.o",
        "/app/notes.tmp",
    ],
)
def test_ignored_changes(path: str) -> None:
    watch = Watch(paths=("/app",), ignore=(*DEFAULT_IGNORE, "*.tmp", "build/cache"))
    assert watch.ignores(path)


@pytest.mark.parametrize(
    "path",
    ["/app/src/main.py", "/app/git/x", "/app/log.txt", "/app/src/build/cache/a.o", "/app/y.py"],
)
def test_changes_that_count(path: str) -> None:
    watch = Watch(paths=("/app",), ignore=(*DEFAULT_IGNORE, "*.tmp", "build/cache"))
    assert not watch.ignores(path)


def test_only_the_part_below_the_watched_root_is_matched() -> None:
    # The project lives inside a .venv directory: that must not ignore all of it.
    watch = Watch(paths=("/home/me/.venv/project",))
    assert not watch.ignores("/home/me/.venv/project/app.py")
    assert watch.ignores("/home/me/.venv/project/.venv/x.py")


def test_a_path_named_explicitly_is_never_ignored() -> None:
    watch = Watch(paths=("/app/server.log", "/app"))
    assert not watch.ignores("/app/server.log")
    assert watch.ignores("/app/other.log")


# -- persisted in state.json --


def test_the_spec_table_carries_it() -> None:
    spec = parse_app("web", {"cmd": "srv", "watch": True, "cwd": "/srv"}, base_dir="/")
    assert spec.to_table()["watch"] == {
        "paths": ["/srv"],
        "ignore": list(DEFAULT_IGNORE),
        "delay": 0.5,
    }
    assert "watch" not in AppSpec(name="web", cmd=("srv",)).to_table()


segments = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
abs_paths = st.lists(segments, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
patterns = st.text(string.ascii_letters + "*._-", min_size=1, max_size=8)


@st.composite
def watches(draw: st.DrawFn) -> Watch:
    extra = draw(st.lists(patterns, max_size=3))
    return Watch(
        paths=tuple(dict.fromkeys(draw(st.lists(abs_paths, min_size=1, max_size=3)))),
        ignore=tuple(dict.fromkeys([*DEFAULT_IGNORE, *extra])),
        delay=draw(st.integers(0, 3_600_000)) / 1000,
    )


@given(watches())
def test_round_trips_through_the_table_and_toml(watch: Watch) -> None:
    spec = AppSpec(name="web", cmd=("srv",), watch=watch)
    assert parse_app("web", spec.to_table(), base_dir="/") == spec
    assert parse_app("web", tomllib.loads(_toml(spec.to_table())), base_dir="/") == spec
    assert read_watch(watch.to_table(), "/elsewhere") == watch
