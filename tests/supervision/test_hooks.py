"""Hooks without a daemon: reading them, which events a state change is, queues, retries."""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from typing import Any

import pytest

from procward.supervision.config import ConfigError, parse_app, parse_config
from procward.supervision.hooks import FromSecret, Hook, applying, masked
from procward.supervision.hooksevents import happened, payload, wanted
from procward.supervision.hookspost import signature
from procward.supervision.hooksqueue import (
    IN_FLIGHT,
    LONGEST_WAIT,
    Outbox,
    retry_delay,
    worth_retrying,
)
from tests.test_layers import imported_by


def config(text: str) -> Any:
    return parse_config(tomllib.loads(text), base_dir="/etc/app", source="procward.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config(text)
    return [str(problem) for problem in caught.value.problems]


FILE = """
[hooks.pager]
on = ["crashed", "unhealthy"]
apps = ["web"]
run = "/usr/local/bin/page-me --quiet"
timeout = "5s"

[hooks.slack]
on = ["gave-up"]
url = { secret = "slack-url" }

[apps.web]
cmd = "sleep 100"
hooks.note = { on = ["restarted"], url = "https://hooks.example.com/x", secret = "k", \
headers = { Authorization = "Bearer t" } }

[apps.api]
cmd = "sleep 100"
hooks.slack = { on = ["exited"], run = ["notify", "api"] }
"""


class TestReading:
    def test_file_hooks_go_to_the_apps_they_are_for(self) -> None:
        apps = config(FILE).apps
        assert [hook.name for hook in apps["web"].hooks] == ["pager", "slack", "note"]
        pager = apps["web"].hooks[0]
        assert pager == Hook(
            "pager",
            ("crashed", "unhealthy"),
            run=("/usr/local/bin/page-me", "--quiet"),
            cwd="/etc/app",
            timeout=5.0,
            retries=0,
        )
        assert apps["web"].hooks[1].url == FromSecret("slack-url")
        assert apps["web"].hooks[1].retries == 3  # a webhook's default

    def test_an_apps_own_hook_replaces_the_files_of_the_same_name(self) -> None:
        api = config(FILE).apps["api"].hooks
        assert [(hook.name, hook.on) for hook in api] == [("slack", ("exited",))]

    def test_hooks_survive_the_saved_form(self) -> None:
        for spec in config(FILE).apps.values():
            table = spec.to_table()
            assert parse_app(spec.name, table, base_dir="/") == spec

    def test_webhook_keys(self) -> None:
        note = config(FILE).apps["web"].hooks[2]
        assert note.url == "https://hooks.example.com/x"
        assert note.secret == "k"
        assert note.headers == (("Authorization", "Bearer t"),)
        assert note.target == "https://hooks.example.com/…"  # a path may hold a token

    def test_below_admin_keys_and_tokens_are_masked(self) -> None:
        tables = config(FILE).apps["web"].to_table()["hooks"]
        shown = masked(tables)
        assert shown["note"]["secret"] == "***"
        assert shown["note"]["headers"] == {"Authorization": "***"}
        assert shown["note"]["url"] == "https://hooks.example.com/…"
        assert shown["slack"]["url"] == {"secret": "slack-url"}  # a name, no value
        assert shown["pager"] == tables["pager"]
        assert tables["note"]["secret"] == "k"  # a copy: the spec's table is left alone

    def test_no_hooks_no_field(self) -> None:
        spec = config('[apps.web]\ncmd = "sleep 1"').apps["web"]
        assert spec.hooks == ()
        assert "hooks" not in spec.to_table()

    @pytest.mark.parametrize(
        ("hook", "expected"),
        [
            (
                'on = ["crashd"], run = "x"',
                "hooks.h.on: unknown event 'crashd' (did you mean 'crashed'?); the events are:",
            ),
            ('on = ["crashed"], run = "x", url = "http://a/"', "hooks.h.url: a hook has run"),
            ('on = ["crashed"]', "hooks.h.run: missing: run (a command) or url"),
            ('run = "x"', "hooks.h.on: missing: the events to act on"),
            ('on = ["crashed"], url = "ftp://a/x"', "hooks.h.url: must be an http or https URL"),
            ('on = ["crashed"], url = "https://u:p@a/x"', "hooks.h.url: must not hold a user"),
            ('on = ["crashed"], run = "x", timeout = "soon"', "hooks.h.timeout: invalid duration"),
            (
                'on = ["crashed"], run = "x", timeout = "0s"',
                "hooks.h.timeout: must be more than 0s",
            ),
            (
                'on = ["crashed"], run = "x", timeout = "1h"',
                "hooks.h.timeout: must be more than 0s",
            ),
            ('on = ["crashed"], run = "x", retries = 11', "hooks.h.retries: must be an integer"),
            ('on = ["crashed"], run = "x", secret = "k"', "hooks.h.secret: is for a url hook only"),
            ('on = ["crashed"], url = "http://a/", cwd = "/"', "hooks.h.cwd: is for a run hook"),
            ('on = ["crashed"], run = "x", apps = ["wbe"]', "hooks.h.apps: 'wbe' is not an app"),
            ('on = ["crashed"], run = "x", when = 1', "hooks.h.when: unknown key"),
            (
                'on = ["crashed"], url = "http://a/", headers = { Host = "b" }',
                "hooks.h.headers.Host: is set by procward itself",
            ),
            (
                'on = ["crashed"], url = "http://a/", secret = { secret = "no way" }',
                "hooks.h.secret: 'no way' is not a secret name",
            ),
        ],
    )
    def test_file_hook_problems_name_their_key(self, hook: str, expected: str) -> None:
        found = problems(f'hooks.h = {{ {hook} }}\n[apps.web]\ncmd = "sleep 1"')
        assert any(problem.startswith(expected) for problem in found), found

    def test_app_hook_problems_name_their_key(self) -> None:
        found = problems(
            '[apps.web]\ncmd = "sleep 1"\n'
            'hooks.h = { on = ["crashed"], run = "x", apps = ["web"] }\n'
            'hooks."bad name" = { on = ["crashed"], run = "x" }'
        )
        assert found[0].startswith("apps.web.hooks.h.apps: unknown key")
        assert found[1].startswith("apps.web.hooks.bad name: is not a hook name")

    def test_every_problem_at_once(self) -> None:
        found = problems(
            '[hooks.a]\non = ["nope"]\nrun = "x"\n[hooks.b]\non = ["crashed"]\nurl = "gopher://x"\n'
            '[apps.web]\ncmd = "sleep 1"'
        )
        assert [p.split(":")[0] for p in found] == ["hooks.a.on", "hooks.b.url"]

    def test_hooks_must_be_a_table(self) -> None:
        assert problems('hooks = 3\n[apps.web]\ncmd = "x"')[0].startswith("hooks: must be a table")


def test_applying_filters_by_app_and_lets_the_apps_own_win() -> None:
    shared = {
        "a": (Hook("a", ("crashed",), run=("x",)), ("web",)),
        "b": (Hook("b", ("crashed",), run=("x",)), None),
    }
    own = (Hook("b", ("exited",), run=("y",)),)
    assert [h.name for h in applying(shared, "web", ())] == ["a", "b"]
    assert [h.name for h in applying(shared, "api", ())] == ["b"]
    assert applying(shared, "web", own) == (shared["a"][0], own[0])


def event(before: str, after: str, pid: int | None = 42, why: str | None = None) -> Any:
    return (1.5, "web", 0, before, after, pid, why)


class TestWhatHappened:
    @pytest.mark.parametrize(
        ("before", "after", "code", "names"),
        [
            ("starting", "running", None, ("started",)),
            ("backoff", "starting", None, ("restarted",)),
            ("running", "backoff", 1, ("crashed", "exited")),
            ("starting", "backoff", 1, ("crashed", "exited")),
            ("running", "backoff", 0, ("exited",)),  # restart = "always"
            ("running", "exited", 0, ("exited",)),  # a job done
            ("running", "exited", 3, ("gave-up", "crashed", "exited")),  # restart = "never"
            ("starting", "crashed", 1, ("gave-up", "crashed", "exited")),  # budget spent
            ("stopping", "backoff", 0, ("crashed", "exited")),  # stopped for failing a check
            ("stopping", "stopped", 0, ()),  # an operator's stop
            ("running", "stopping", None, ()),
            ("stopped", "starting", None, ()),
        ],
    )
    def test_state_changes(
        self, before: str, after: str, code: int | None, names: tuple[str, ...]
    ) -> None:
        assert happened(event(before, after), code=code, signal=None) == names

    def test_killed_by_a_signal_is_a_crash(self) -> None:
        names = happened(event("running", "backoff"), code=None, signal=9)
        assert names == ("crashed", "exited")

    def test_a_spawn_that_failed_is_a_crash(self) -> None:
        names = happened(event("starting", "backoff", pid=None), code=None, signal=None)
        assert names == ("crashed", "exited")

    def test_unhealthy_is_a_stop_with_a_reason(self) -> None:
        why = "health check failed 3 times in a row"
        assert happened(event("running", "stopping", why=why), code=None, signal=None) == (
            "unhealthy",
        )

    def test_a_hook_is_told_once_by_the_most_specific_name_it_asked_for(self) -> None:
        names = ("gave-up", "crashed", "exited")
        assert wanted(Hook("h", ("exited", "crashed"), run=("x",)), names) == "crashed"
        assert wanted(Hook("h", ("exited",), run=("x",)), names) == "exited"
        assert wanted(Hook("h", ("restarted",), run=("x",)), names) is None

    def test_payload_is_the_event_and_whose(self) -> None:
        body = payload(
            event("running", "backoff", why="exit status 1"),
            "crashed",
            "pager",
            daemon="default",
            host="h1",
        )
        assert body == {
            "time": 1.5,
            "app": "web",
            "instance": 0,
            "from": "running",
            "to": "backoff",
            "pid": 42,
            "why": "exit status 1",
            "event": "crashed",
            "hook": "pager",
            "daemon": "default",
            "host": "h1",
        }


class TestOutbox:
    def test_a_full_queue_drops_the_oldest_and_counts(self) -> None:
        box = Outbox(size=100)
        kept = [box.put(n) for n in range(150)]
        assert kept == [True] * 100 + [False] * 50
        assert box.dropped == 50
        assert list(box.queue) == list(range(50, 150))

    def test_at_most_in_flight_under_way(self) -> None:
        box = Outbox()
        for n in range(10):
            box.put(n)
        taken = [box.take() for _ in range(IN_FLIGHT + 2)]
        assert taken == [*range(IN_FLIGHT), None, None]
        box.done(10.0, None)
        box.done(11.0, "answered 500")
        assert box.take() == IN_FLIGHT
        assert box.view() | {"queued": 0} == {
            "queued": 0,
            "in_flight": IN_FLIGHT - 1,
            "delivered": 1,
            "failed": 1,
            "dropped": 0,
            "last_error": "answered 500",
            "last_error_at": 11.0,
            "last_delivered_at": 10.0,
        }

    def test_idle(self) -> None:
        box = Outbox()
        assert box.idle
        box.put(1)
        assert not box.idle
        box.take()
        assert not box.idle
        box.done(0.0, None)
        assert box.idle


class TestRetries:
    def test_the_delays_double_between_half_and_all_of_it(self) -> None:
        low = [retry_delay(n, lambda: 0.0) for n in range(1, 9)]
        high = [retry_delay(n, lambda: 1.0) for n in range(1, 9)]
        assert high == [1, 2, 4, 8, 16, 32, 60, 60]
        assert low == [h / 2 for h in high]

    def test_capped(self) -> None:
        assert retry_delay(100, lambda: 1.0) == LONGEST_WAIT

    @pytest.mark.parametrize(
        ("status", "again"),
        [(500, True), (503, True), (429, True), (408, True), (404, False), (400, False)],
    )
    def test_which_answers_are_worth_another_try(self, status: int, again: bool) -> None:
        assert worth_retrying(status) is again


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"crashed"}'
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"key", 1700000000, body) == f"sha256={expected}"


def test_a_daemon_whose_apps_have_no_hooks_loads_nothing_of_them() -> None:
    """Decision 0044: the idle daemon stays lean; an app's state changes without hooks
    make no runner, and neither ``ssl`` nor ``h11`` comes with hooks until a webhook."""
    code = (
        "import asyncio, procward.daemon.service\n"
        "from procward.kit._paths import InstancePaths\n"
        "from procward.supervision.config import parse_config\n"
        "from procward.supervision.supervisor import Supervisor\n"
        "config = parse_config({'apps': {'a': {'cmd': 'x'}}}, base_dir='/')\n"
        "async def main():\n"
        "    sup = Supervisor(InstancePaths('procward', 't', '/nonexistent', '/nonexistent'))\n"
        "    sup.add(config.apps['a'], 'test', desired=True)\n"
        "    sup.event(('a', 0), 'running', 'backoff', 42, 'exit status 1')\n"
        "    assert sup.hooks is None\n"
        "asyncio.run(main())\n"
    )
    loaded = imported_by(code)
    assert "procward.daemon.parts.hooks" in loaded
    hooks = [name for name in loaded if name.startswith("procward.supervision.hooks")]
    assert not hooks, hooks


def test_a_command_hook_loads_no_http_nor_tls() -> None:
    code = (
        "from procward.kit._eventloop import keep_openssl_out; assert keep_openssl_out()\n"
        "import procward.supervision.hooksrunner\n"
        "from procward.supervision.config import parse_config\n"
        "parse_config({'hooks': {'h': {'on': ['crashed'], 'run': 'x'}},"
        " 'apps': {'a': {'cmd': 'x'}}}, base_dir='/')\n"
    )
    loaded = imported_by(code)
    assert "procward.supervision.hooks" in loaded
    assert not {"h11", "_ssl", "procward.supervision.hookspost"} & loaded
