"""The records of the daemon's replies (``procward.replies``) against a real daemon.

Every kind of reply the CLI renders is asked of a daemon with a few apps (one
with probes and watch mode, one that exits cleanly, one that fails, one added
ad hoc) and decoded into its record: a field renamed, retyped or dropped on the
daemon's side fails here, with the path of the field.
"""

from __future__ import annotations

import ast
from typing import Any

import pytest

import procward.replies
from procward import replies
from procward.kit.client import Client
from procward.kit.structs import RecordError

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

    [apps.bad]
    cmd = ["sh", "-c", "echo oops >&2; exit 3"]
    restart = "never"
    depends_on = ["web"]
"""


def test_every_reply_decodes_into_its_record(daemon: Client, load_apps: LoadApps) -> None:
    loaded = load_apps(APPS)
    wait_all_state(daemon, "web", "running", count=2)
    wait_state(daemon, "job", "exited")
    wait_state(daemon, "bad", "exited")
    call = daemon.call
    one: list[tuple[type[Any], Any]] = [
        (replies.ConfigLoaded, loaded),
        (replies.Ping, call("ping")),
        (replies.Resumed, call("resume")),
        (replies.DaemonStatus, call("status")),
        (replies.AppView, call("getApp", {"name": "web"})),
        (replies.AppView, call("startApp", {"name": "web"})),
        (replies.AppView, call("scale", {"name": "web", "instances": 3})),
        (replies.AppsChanged, call("restartApp", {"name": "web"})),
        (replies.AppsChanged, call("reloadApp", {"name": "web"})),
        (replies.Stopped, call("stopApp", {"name": "job"})),
        (replies.HealthReport, call("getHealth")),
        (replies.MetricsReport, call("getMetrics")),
        (replies.UptimeReport, call("getUptime", {"days": 3})),
        (replies.WatchStatus, call("getWatchStatus")),
        (replies.Graph, call("getDependencyGraph")),
        (replies.Graph, call("getDependencyGraph", {"name": "bad"})),
        (replies.Inspection, call("inspect", {"name": "web", "lines": 5})),
        (replies.Inspection, call("inspect", {"name": "bad", "lines": 5})),
        (replies.ExecResult, call("exec", {"name": "web", "args": ["echo", "hi"]})),
        (replies.ExecResult, call("exec", {"name": "web", "args": ["sh", "-c", "kill $$"]})),
        (replies.Flushed, call("flushLogs", {"name": "job"})),
        (replies.AppView, call("addApp", {"name": "adhoc", "spec": {"cmd": ["sleep", "100"]}})),
    ]
    call("setMetricsEnabled", {"enabled": True, "interval": 0.1})
    sampled = call("getMetrics")
    one += [
        (replies.MetricsReport, sampled),
        (replies.DaemonStatus, call("status")),  # with CPU and MEM per instance
        (replies.WatchStatus, call("disableWatch")),
        (replies.WatchStatus, call("enableWatch", {"apps": ["web"]})),
        (replies.AppsChanged, call("restartApp", {"name": "all"})),
        (replies.Stopped, call("stopApp", {"name": "all"})),
    ]
    many: list[tuple[type[Any], Any]] = [
        (replies.AppView, call("list")),
        (replies.AppView, call("startAll")),
        (replies.ConfigLoaded, call("reloadConfig")),
        (replies.Event, call("getEvents", {"limit": 200})),
        (replies.LogEntry, call("getLogs", {"lines": 5})),
        (replies.AuditView, call("getAudit", {"limit": 50})),
    ]
    made = call("createToken", {"role": "viewer", "ttl": "1h"})
    one.append((replies.TokenCreated, made))
    many.append((replies.TokenInfo, call("listTokens")))
    one += [
        (replies.TokenRevoked, call("revokeToken", {"id": made["id"]})),
        (replies.KeyRotated, call("rotateTokens")),
    ]
    for record, reply in one:
        assert isinstance(record.from_dict(reply), record)
    for record, reply in many:
        assert reply, f"no {record.__name__} to decode"
        assert all(isinstance(item, record) for item in replies.list_from(record, reply))


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
        replies.list_from(replies.Edge, [{"from": "a", "to": "b"}, {"from": "a"}])


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
    decoded = replies.Event.from_dict(event)
    assert decoded.was == "running"
    assert decoded.as_dict() == event
    assert replies.Edge.from_dict({"from": "a", "to": "b"}).as_dict() == {"from": "a", "to": "b"}


def test_replies_import_only_the_structs_and_the_standard_library() -> None:
    with open(procward.replies.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    ours = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            ours.add(node.module)
        elif isinstance(node, ast.Import):
            ours.update(alias.name for alias in node.names)
    assert {name for name in ours if name.startswith("procward")} == {"procward.kit.structs"}
