"""The records of the daemon's replies (``procward.replies``) against a real daemon.

Every kind of reply the CLI renders is asked of a daemon with a few apps (one
with probes and watch mode, one that exits cleanly, one that fails, one added
ad hoc) and decoded into its record: a field renamed, retyped or dropped on the
daemon's side fails here, with the path of the field.
"""

from __future__ import annotations

import ast
import os
from typing import Any

import pytest

from procward import replies, reports
from procward.daemon import rpcdoc
from procward.kit._client import Client
from procward.kit._errors import InvalidParams
from procward.kit._structs import RecordError
from procward.kit.testing import wait_for

from ..daemon.conftest import LoadApps, wait_all_state, wait_state

APPS = """
    [apps.web]
    cmd = ["sleep", "1000"]
    instances = 2
    watch = true
    ready = { delay = "50ms" }
    health = { exec = "true", interval = "100ms" }

    [apps.job]
    cmd = ["sh", "-c", "echo done"]
    restart = "never"
    hooks.note = { on = ["exited"], run = "true" }

    [apps.bad]
    cmd = ["sh", "-c", "echo oops >&2; exit 3"]
    restart = "never"
    depends_on = ["web"]
"""


class Decoding:
    """Calls on a real daemon; each reply of a method that declares ``result=`` is decoded.

    ``seen`` is the methods whose replies were: a test compares it with every
    method that declares a record, so one declared and never exercised fails.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.declared = {m.name: m.result for m in rpcdoc.registry() if m.result is not None}
        self.seen: set[str] = set()

    def __call__(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.client.call(method, params or {})
        self.decode(method, reply)
        return reply

    def decode(self, method: str, reply: Any) -> None:
        result = self.declared.get(method)
        if result is None:
            return
        record = rpcdoc.record_of(result)
        if not rpcdoc.is_list(result):
            assert isinstance(record.from_dict(reply), record), method
        else:  # list[Record]: not empty, or it proves nothing
            assert reply, f"{method}: no {record.__name__} to decode"
            assert all(isinstance(item, record) for item in replies.list_from(record, reply))
        self.seen.add(method)


def test_every_reply_decodes_into_its_record(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    call = Decoding(daemon)
    call.decode("loadConfig", load_apps(APPS))
    wait_all_state(daemon, "web", "running", count=2)
    wait_state(daemon, "job", "exited")
    wait_state(daemon, "bad", "exited")
    call("resume")
    call("status")
    call("statusTable")
    call("getApp", {"name": "web"})
    call("startApp", {"name": "web"})
    call("scale", {"name": "web", "instances": 3})
    call("restartApp", {"name": "web"})
    call("reloadApp", {"name": "web"})
    call("stopApp", {"name": "job"})
    for method in ("getHealth", "getMetrics", "getWatchStatus", "getDependencyGraph"):
        call(method)
    call("getUptime", {"days": 3})
    call("getDependencyGraph", {"name": "bad"})
    call("inspect", {"name": "web", "lines": 5})
    call("inspect", {"name": "bad", "lines": 5})
    call("exec", {"name": "web", "args": ["echo", "hi"]})
    call("exec", {"name": "web", "args": ["sh", "-c", "kill $$"]})
    call("flushLogs", {"name": "job"})
    call("addApp", {"name": "adhoc", "spec": {"cmd": ["sleep", "100"]}})
    daemon.call("setMetricsEnabled", {"enabled": True, "interval": 0.1})
    call("getMetrics")
    call("status")  # with CPU and MEM per instance
    call("statusTable")
    wait_for(lambda: daemon.call("getTrends")["times"], what="a sample in the trend")
    call("getTrends")
    call("disableWatch")
    call("enableWatch", {"apps": ["web"]})
    call("setNetwork", {"tcp": "127.0.0.1:0"})
    call("getNetwork")
    for method in ("restartAll", "reloadAll", "stopAll", "list", "startAll", "reloadConfig"):
        call(method)
    call("getEvents", {"limit": 200})
    call("getLogs", {"lines": 5})
    call("getHooks")
    call("setSecret", {"name": "db_url", "value": "postgres://u:pw@db/x"})
    call("setSecret", {"name": "blob", "value": "AAEC", "encoding": "base64"})
    call("listSecrets")
    call("rotateSecretsKey")
    call("removeSecret", {"name": "blob"})
    key = os.path.join(home, ".keys", "default.key")
    os.chmod(key, 0o644)  # refused: the store cannot be read, and can be reset
    call("resetSecrets")
    os.chmod(key, 0o600)
    call("getAudit", {"limit": 50})
    call("deleteApp", {"name": "adhoc"})
    # The fleet's methods need a fleet: tests/fleet/test_fleet.py decodes their replies.
    fleet = {"getFleet", "fleetAddress", "fleetDrain", "fleetStepDown"}
    assert call.seen == set(call.declared) - fleet, "a declared result no call here decodes"

    # The kit's methods declare no record (the kit knows none of procward's):
    # theirs are checked here by name.
    made = daemon.call("createToken", {"role": "viewer", "ttl": "1h"})
    assert replies.list_from(reports.TokenInfo, daemon.call("listTokens"))
    one: list[tuple[type[Any], Any]] = [
        (replies.Ping, daemon.call("ping")),
        (reports.TokenCreated, made),
        (reports.TokenRevoked, daemon.call("revokeToken", {"id": made["id"]})),
        (reports.KeyRotated, daemon.call("rotateTokens")),
    ]
    for record, reply in one:
        assert isinstance(record.from_dict(reply), record)


def test_every_lifecycle_method_answers_the_apps_it_acted_on(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.base]
        cmd = ["sleep", "1000"]
        min_start = "0s"

        [apps.top]
        cmd = ["sleep", "1000"]
        min_start = "0s"
        depends_on = ["base"]
    """)
    wait_state(daemon, "top", "running")

    def names(method: str, **params: Any) -> list[str]:
        changed = replies.AppsChanged.from_dict(daemon.call(method, params))
        return [app.name for app in changed.apps]

    assert names("stopApp", name="base") == ["base", "top"]  # its dependents went too
    assert names("startApp", name="top") == ["base", "top"]  # its dependencies first
    assert names("restartApp", name="top") == ["top"]
    assert names("reloadApp", name="base") == ["base"]
    assert names("scale", name="base", instances=2) == ["base"]
    for every in ("restartAll", "reloadAll", "stopAll", "startAll"):
        assert sorted(names(every)) == ["base", "top"], every
    assert names("resume") == []  # nothing held down
    assert names("addApp", name="extra", spec={"cmd": ["sleep", "100"]}) == ["extra"]
    assert daemon.call("deleteApp", name="extra") == {"deleted": "extra"}


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "reload"])
def test_an_app_method_refuses_all_and_names_the_all_method(daemon: Client, verb: str) -> None:
    with pytest.raises(InvalidParams, match=f"{verb}App takes one app's name; .* {verb}All"):
        daemon.call(f"{verb}App", name="all")


def test_a_wrong_field_is_named_by_its_path() -> None:
    status = {
        "daemon": {
            "pid": 1,
            "version": "x",
            "instance": "default",
            "started_at": 0.0,
            "uptime": 1,
            "connections": 0,
            "pools": {},
            "paths": {},
            "addresses": {},
        },
        "apps": [
            {
                "name": "web",
                "desired": "running",
                "held": False,
                "source": "cli",
                "depends_on": [],
                "healthy": True,
                "error": None,
                "instances": [
                    {
                        "index": 0,
                        "state": "running",
                        "pid": "42",
                        "restarts": 0,
                        "started_at": None,
                        "exit_code": None,
                        "exit_signal": None,
                        "error": None,
                    }
                ],
            }
        ],
        "healthy": True,
    }
    with pytest.raises(RecordError, match=r"apps\[0\]\.instances\[0\]\.pid"):
        replies.DaemonStatus.from_dict(status)
    with pytest.raises(RecordError, match=r"\[1\]\.to: missing"):
        replies.list_from(reports.Edge, [{"from": "a", "to": "b"}, {"from": "a"}])
    columns = {"app": ["web"], "index": [0], "state": ["running"], "started_at": [None]}
    table = {"daemon": status["daemon"], "healthy": True}
    table["instances"] = {**columns, "pid": [7, "42"], "restarts": [0]}
    with pytest.raises(RecordError, match=r"instances\.pid\[1\]: expected int, got str"):
        replies.StatusTable.from_dict(table)


def test_wire_names_that_are_keywords_round_trip() -> None:
    event = {
        "time": 1.0,
        "app": "web",
        "instance": 0,
        "pid": None,
        "from": "running",
        "to": "backoff",
        "why": "exit status 1",
    }
    decoded = reports.Event.from_dict(event)
    assert decoded.was == "running"
    assert decoded.as_dict() == event
    assert reports.Edge.from_dict({"from": "a", "to": "b"}).as_dict() == {"from": "a", "to": "b"}


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        (replies, {"procward.kit._structs"}),
        (reports, {"procward.kit._structs", "procward.replies"}),
    ],
)
def test_records_import_only_the_structs_and_the_standard_library(
    module: Any, allowed: set[str]
) -> None:
    with open(module.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    ours = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            ours.add(node.module)
        elif isinstance(node, ast.Import):
            ours.update(alias.name for alias in node.names)
    assert {name for name in ours if name.startswith("procward")} == allowed
