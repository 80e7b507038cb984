"""Input the daemon cannot use is InvalidParams, never -32603 (issue 11, items 11, 15, 16).

Every method's numbers and strings are tried with the classes of input that
made handlers fail with a traceback: NaN, infinities, integers past 64 bits,
NUL and lone surrogates. Raw frames, since ``NaN`` and ``"\\ud800"`` are what
a client's JSON carries; the daemon's log must stay free of tracebacks.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import Forbidden, InvalidParams, NotFound
from procward.kit._paths import InstancePaths

from .conftest import LoadApps, app_instances

INVALID_PARAMS = -32602

# (method, params as raw JSON text): each must be InvalidParams.
BAD_CALLS = [
    ("loadConfig", '{"path": "/tmp/a\\u0000b"}'),
    ("loadConfig", '{"path": "/tmp/\\ud800"}'),
    ("stopApp", '{"name": "idle", "timeout": NaN}'),
    ("stopApp", '{"name": "idle", "timeout": Infinity}'),
    ("stopApp", '{"name": "idle", "timeout": 1e400}'),
    ("stopApp", '{"name": "idle", "timeout": -1}'),
    ("stopApp", '{"name": "idle", "timeout": 1e300}'),
    ("scale", '{"name": "idle", "instances": 100000000000000000000000000000}'),
    ("getLogs", '{"lines": 1000000000000000000000000000000}'),
    ("getLogs", '{"since": "\\ud800"}'),
    ("getLogs", '{"name": "idle", "stream": "bogus"}'),
    ("getEvents", '{"limit": -100000000000000000000000000000}'),
    ("getEvents", '{"since": "1e400"}'),
    ("getApp", '{"name": "\\ud800"}'),
    ("getEnv", '{"name": "idle", "instance": 100000000000000000000000000000}'),
    ("getUptime", '{"days": NaN}'),
    ("inspect", '{"name": "idle", "lines": 100000000000000000000000000000}'),
    ("addApp", '{"name": "bad", "spec": {"cmd": ["\\ud800"]}}'),
    ("addApp", '{"name": "bad", "spec": {"cmd": ["sleep", "1"], "env": {"A\\ud800": "x"}}}'),
    ("addApp", '{"name": "bad", "spec": {"cmd": ["sleep", "1"], "env": {"A": "\\udc80"}}}'),
    ("addApp", '{"name": "bad", "spec": {"cmd": "sleep 1", "commands": {"m": "echo \\u0000"}}}'),
    ("addApp", '{"name": "bad", "spec": {"cmd": ["sleep", "1"], "stop_timeout": NaN}}'),
    ("addApp", '{"name": "bad\\u0000", "spec": {"cmd": ["sleep", "1"]}}'),
    ("exec", '{"name": "idle", "args": ["echo", "\\ud800"]}'),
    ("exec", '{"name": "idle", "command": "hello", "timeout": NaN}'),
    ("enableWatch", '{"apps": ["\\ud800"]}'),
]


def raw_call(paths: InstancePaths, method: str, params: str) -> dict[str, Any]:
    """One request, params as JSON text (NaN and lone surrogates as a client may send them)."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(paths.socket)
        frame = f'{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}\n'
        conn.sendall(frame.encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(65536)
            assert chunk, "the daemon closed the connection"
            reply += chunk
    result: dict[str, Any] = json.loads(reply)
    return result


def daemon_log(paths: InstancePaths) -> str:
    with open(os.path.join(paths.log_dir, "daemon.log")) as f:
        return f.read()


def test_unusable_params_of_every_method_are_invalid_params(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.idle]
        cmd = ["sleep", "1000"]

        [apps.idle.commands]
        hello = "echo hello"
    """)
    wrong = []
    for method, params in BAD_CALLS:
        reply = raw_call(paths, method, params)
        code = reply.get("error", {}).get("code")
        if code != INVALID_PARAMS:
            wrong.append(f"{method} {params}: {reply}")
    assert not wrong, "\n".join(wrong)
    assert "Traceback" not in daemon_log(paths)
    assert "bad" not in [a["name"] for a in daemon.call("list")]
    assert [i["state"] for i in app_instances(daemon, "idle")] in (["starting"], ["running"])


def test_an_app_refused_for_its_text_leaves_nothing_behind(
    daemon: Client, paths: InstancePaths
) -> None:
    """The reported case: the app was added, then stuck in ``starting``."""
    reply = raw_call(paths, "addApp", '{"name": "bad", "spec": {"cmd": ["\\ud800"]}}')
    assert reply["error"]["code"] == INVALID_PARAMS
    assert "apps.bad.cmd[0]: is not valid Unicode text" in reply["error"]["message"]
    assert daemon.call("list") == []


def test_follow_logs_refuses_a_bad_stream_or_instance_at_once(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.idle]
        cmd = ["sleep", "1000"]
    """)
    with pytest.raises(InvalidParams, match="stream must be 'out' or 'err'"):
        next(daemon.stream("followLogs", name="idle", stream="bogus"))
    with pytest.raises(NotFound, match="idle has no instance 7"):
        next(daemon.stream("followLogs", name="idle", instance=7))
    with pytest.raises(NotFound, match="no app named 'nope'"):
        next(daemon.stream("followLogs", name="nope"))
    assert daemon.call("ping")["pid"] > 0  # the connection is still usable


def test_flush_logs_needs_an_admin(daemon: Client, load_apps: LoadApps) -> None:
    load_apps("""
        [apps.idle]
        cmd = ["sleep", "1000"]
    """)
    address = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    token = daemon.call("createToken", role="operator", ttl="10m")["token"]
    with Client.open_tcp(address, token) as operator:
        assert operator.call("getLogs", name="idle")  # a viewer's read works
        with pytest.raises(Forbidden, match="flushLogs needs the admin role"):
            operator.call("flushLogs", name="idle")
    assert daemon.call("flushLogs", name="idle") == {"flushed": 2}
