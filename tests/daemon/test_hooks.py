"""Hooks in a real daemon (issue 15's "Done when"): commands, signed webhooks, dead endpoints.

Each test has its own daemon and home; webhooks go to a small HTTP server
of the test's own on 127.0.0.1 (``Receiver``), or to a port that refuses, or
to one that takes the connection and never answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import InvalidParams
from procward.kit.testing import free_port, wait_for
from tests.conftest import Result
from tests.daemon.conftest import LoadApps, pid_of, wait_state

pytestmark = pytest.mark.usefixtures("daemon")

# Appends its stdin and the PROCWARD_* variables it was given, one JSON line per run.
RECORDER = (
    "import json, os, sys; event = json.load(sys.stdin);"
    " env = {k: v for k, v in os.environ.items() if k.startswith('PROCWARD_')};"
    " open(sys.argv[1], 'a').write(json.dumps({'stdin': event, 'env': env})  + chr(10))"
)


def crashing_app(max_restarts: int = 2) -> str:
    """An app that exits 1 at once and gives up after ``max_restarts`` restarts."""
    return f"""
        [apps.bad]
        cmd = ["{sys.executable}", "-c", "raise SystemExit(1)"]
        max_restarts = {max_restarts}
        backoff = {{ initial = "50ms", max = "100ms" }}
    """


def lines(path: str) -> list[dict[str, Any]]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def hook(client: Client, name: str) -> dict[str, Any]:
    return next(h for h in client.call("getHooks") if h["name"] == name)


def settled(client: Client, name: str) -> dict[str, Any] | None:
    """The hook's counts once nothing of it is queued or under way."""
    found = hook(client, name)
    return found if found["queued"] == 0 and found["in_flight"] == 0 else None


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps each request and answers the next status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_crashed_app_runs_the_hook_once_per_crash_with_the_event(
    daemon: Client, load_apps: LoadApps, tmp_path: Any
) -> None:
    crashes, gave_up = str(tmp_path / "crashes"), str(tmp_path / "gave-up")
    load_apps(f"""
        [hooks.crash]
        on = ["crashed"]
        run = ["{sys.executable}", "-c", "{RECORDER}", "{crashes}"]

        [hooks.pager]
        on = ["gave-up"]
        run = ["{sys.executable}", "-c", "{RECORDER}", "{gave_up}"]
        {crashing_app(max_restarts=2)}
    """)
    wait_state(daemon, "bad", "crashed")
    wait_for(lambda: settled(daemon, "crash") and settled(daemon, "pager"), 10, what="hooks done")
    # Two crashes restarted, and the last one: three crash events, one of giving up.
    seen = lines(crashes)
    assert len(seen) == 3
    assert hook(daemon, "crash")["delivered"] == 3
    events = daemon.call("getEvents", name="bad")
    crashed = [e for e in events if e["to"] in ("backoff", "crashed")]
    for run, expected in zip(sorted(seen, key=lambda r: r["stdin"]["time"]), crashed, strict=True):
        assert run["stdin"] == {
            **expected,
            "event": "crashed",
            "hook": "crash",
            "daemon": "default",
            "host": socket.gethostname(),
        }
        assert run["env"]["PROCWARD_EVENT"] == "crashed"
        assert run["env"]["PROCWARD_APP"] == "bad"
        assert run["env"]["PROCWARD_INDEX"] == "0"
        assert run["env"]["PROCWARD_PID"] == str(expected["pid"])
        assert run["env"]["PROCWARD_WHY"] == "exit status 1"
        assert run["env"]["PROCWARD_INSTANCE"] == "default"  # the daemon's, as apps have it
        assert "PROCWARD_MARKER" not in run["env"]
    [last] = lines(gave_up)
    assert last["stdin"]["event"] == "gave-up"
    assert last["stdin"]["to"] == "crashed"


def test_a_webhook_receives_the_event_signed(
    daemon: Client,
    load_apps: LoadApps,
    receiver: Callable[..., Receiver],
    cli: Callable[..., Result],
) -> None:
    server = receiver()
    load_apps(f"""
        [hooks.slack]
        on = ["gave-up"]
        url = "{server.url}"
        secret = "webhook-key"
        headers = {{ Authorization = "Bearer abc" }}
        {crashing_app(max_restarts=0)}
    """)
    wait_state(daemon, "bad", "crashed")
    wait_for(lambda: server.requests, 10, what="the POST")
    wait_for(lambda: settled(daemon, "slack"), 10, what="delivered")
    [(_at, headers, body)] = server.requests
    stamp = headers["X-Procward-Timestamp"]
    mac = hmac.new(b"webhook-key", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Procward-Signature"], f"sha256={mac}")
    assert abs(int(stamp) - time.time()) < 60
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer abc"
    assert headers["X-Procward-Event"] == "gave-up"
    event = json.loads(body)
    assert (event["app"], event["to"], event["event"], event["hook"]) == (
        "bad",
        "crashed",
        "gave-up",
        "slack",
    )
    assert hook(daemon, "slack") | {"last_delivered_at": None} == {
        "name": "slack",
        "on": ["gave-up"],
        "kind": "url",
        "target": server.url.split("/hook")[0] + "/…",
        "signed": True,
        "timeout": 10.0,
        "retries": 3,
        "apps": ["bad"],
        "queued": 0,
        "in_flight": 0,
        "delivered": 1,
        "failed": 0,
        "dropped": 0,
        "last_error": None,
        "last_error_at": None,
        "last_delivered_at": None,
    }
    shown = cli("hooks")
    assert shown.code == 0, shown.err
    assert shown.out.split("\n")[1].split() == [
        "slack",
        "gave-up",
        server.url.split("/hook")[0] + "/…",
        "bad",
        "1",
        "0",
        "0",
        "0",
    ]


def test_a_failing_endpoint_is_tried_again_later(
    daemon: Client, load_apps: LoadApps, receiver: Callable[..., Receiver]
) -> None:
    server = receiver([500, 503])  # then 200
    load_apps(f"""
        [hooks.flaky]
        on = ["gave-up"]
        url = "{server.url}"
        {crashing_app(max_restarts=0)}
    """)
    wait_for(lambda: len(server.requests) == 3, 15, what="three tries")
    wait_for(lambda: settled(daemon, "flaky"), 10, what="delivered")
    found = hook(daemon, "flaky")
    assert (found["delivered"], found["failed"]) == (1, 0)
    times = [at for at, _headers, _body in server.requests]
    ids = {headers["X-Procward-Delivery"] for _at, headers, _body in server.requests}
    assert len(ids) == 1  # the same delivery each time: a receiver can tell a repeat
    # Equal jitter: the first retry after 0.5-1 s, the second after 1-2 s.
    assert 0.45 <= times[1] - times[0] <= 1.5
    assert 0.95 <= times[2] - times[1] <= 2.5


def test_an_answer_that_will_not_change_is_not_asked_again(
    daemon: Client, load_apps: LoadApps, receiver: Callable[..., Receiver]
) -> None:
    server = receiver([404])
    load_apps(f"""
        [hooks.gone]
        on = ["gave-up"]
        url = "{server.url}"
        {crashing_app(max_restarts=0)}
    """)
    wait_for(lambda: settled(daemon, "gone") and hook(daemon, "gone")["failed"], 10, what="failed")
    assert hook(daemon, "gone")["last_error"] == "answered 404"
    assert len(server.requests) == 1


def ping_times(client: Client, count: int = 200) -> tuple[float, float]:
    """p50 and p95 of ``count`` pings, in milliseconds."""
    taken = []
    for _ in range(count):
        start = time.perf_counter()
        client.call("ping")
        taken.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(taken, n=20)
    return statistics.median(taken), cuts[18]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers (nobody accepts them)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1000)
        yield listener.getsockname()[1]


def test_dead_endpoints_do_not_slow_the_daemon(
    daemon: Client,
    load_apps: LoadApps,
    write_config: Callable[[str], str],
    silent_port: int,
    cli: Callable[..., Result],
) -> None:
    storm = """
        [apps.storm]
        cmd = ["/bin/sh", "-c", "exit 1"]
        max_restarts = 100000
        backoff = { initial = "10ms", max = "10ms" }
    """
    load_apps(storm)
    wait_for(lambda: daemon.call("getApp", name="storm")["instances"][0]["restarts"] > 20, 10)
    without = ping_times(daemon)
    refused = free_port()
    write_config(f"""
        [hooks.silent]
        on = ["crashed", "restarted"]
        url = "http://127.0.0.1:{silent_port}/"
        timeout = "10m"
        retries = 10

        [hooks.refused]
        on = ["crashed", "restarted"]
        url = "http://127.0.0.1:{refused}/"
        retries = 10
        {storm}
    """)
    assert daemon.call("reloadConfig")["files"][0]["updated"] == ["storm"]  # not restarted
    full = lambda name: hook(daemon, name)["queued"] == 100 and hook(daemon, name)["dropped"] > 0  # noqa: E731
    wait_for(lambda: full("silent") and full("refused"), 20, what="both queues full")
    with_hooks = ping_times(daemon)
    silent, gone = hook(daemon, "silent"), hook(daemon, "refused")
    print(
        f"\nping p50/p95 ms: without hooks {without[0]:.3f}/{without[1]:.3f}, "
        f"dead webhooks with full queues {with_hooks[0]:.3f}/{with_hooks[1]:.3f}; "
        f"dropped: silent {silent['dropped']}, refused {gone['dropped']}; "
        f"in flight: {silent['in_flight']}, {gone['in_flight']}"
    )
    assert silent["in_flight"] == gone["in_flight"] == 4
    assert cli("hooks").code == 1  # deliveries were lost: someone was not told
    # The figures are the bench's and the note's to quote; what is asserted is the
    # property: a daemon that waited on a dead endpoint (a 10 min timeout here) would
    # answer in seconds. p95 swings with the machine's load, hooks or not (0044).
    assert with_hooks[0] < without[0] * 3 + 1.0
    assert with_hooks[1] < max(without[1] * 3, 250.0)


def test_bad_hooks_are_refused_with_their_keys(
    daemon: Client, write_config: Callable[[str], str]
) -> None:
    path = write_config("""
        [hooks.pager]
        on = ["crashd"]
        run = "page-me"
        url = "ftp://example.com/"

        [apps.web]
        cmd = "sleep 100"
        hooks.note = { on = ["restarted"], url = "https://example.com/", timeout = "-1s" }
    """)
    with pytest.raises(InvalidParams) as caught:
        daemon.call("loadConfig", path=path)
    message = str(caught.value)
    assert "hooks.pager.on: unknown event 'crashd' (did you mean 'crashed'?)" in message
    assert "hooks.pager.url: a hook has run (a command) or url (a webhook), not both" in message
    assert "apps.web.hooks.note.timeout:" in message
    assert daemon.call("list") == [] or "web" not in json.dumps(daemon.call("list"))


def test_a_changed_hook_is_used_without_restarting_the_app(
    daemon: Client, load_apps: LoadApps, write_config: Callable[[str], str], tmp_path: Any
) -> None:
    out = str(tmp_path / "out")
    app = f"""
        [apps.web]
        cmd = ["{sys.executable}", "-c", "import time; time.sleep(600)"]
        min_start = "100ms"
    """
    load_apps(app)
    wait_state(daemon, "web", "running")
    pid = pid_of(daemon, "web")
    write_config(f"""
        [hooks.note]
        on = ["restarted", "crashed"]
        run = ["{sys.executable}", "-c", "{RECORDER}", "{out}"]
        {app}
    """)
    assert daemon.call("reloadConfig")["files"][0]["updated"] == ["web"]
    assert pid_of(daemon, "web") == pid
    os.kill(pid, 9)
    wait_for(lambda: len(lines(out)) == 2, 10, what="crashed and restarted")
    assert sorted(run["stdin"]["event"] for run in lines(out)) == ["crashed", "restarted"]


def test_an_app_that_fails_its_health_check_is_unhealthy(
    daemon: Client, load_apps: LoadApps, tmp_path: Any
) -> None:
    out = str(tmp_path / "out")
    load_apps(f"""
        [hooks.doctor]
        on = ["unhealthy"]
        run = ["{sys.executable}", "-c", "{RECORDER}", "{out}"]

        [apps.web]
        cmd = ["{sys.executable}", "-c", "import time; time.sleep(600)"]
        min_start = "50ms"
        health = {{ exec = "false", interval = "50ms", failures = 2 }}
    """)
    run = wait_for(lambda: lines(out), 10, what="unhealthy")[0]
    assert run["stdin"]["event"] == "unhealthy"
    assert (run["stdin"]["from"], run["stdin"]["to"]) == ("running", "stopping")
    assert run["stdin"]["why"].startswith("health check failed")
    assert run["env"]["PROCWARD_WHY"] == run["stdin"]["why"]


def test_a_command_that_hangs_or_cannot_start_fails_and_says_why(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps(f"""
        [hooks.slow]
        on = ["gave-up"]
        run = ["sleep", "600"]
        timeout = "300ms"

        [hooks.missing]
        on = ["gave-up"]
        run = "/nonexistent/notify"

        [hooks.sad]
        on = ["gave-up"]
        run = ["/bin/sh", "-c", "echo no route to pager >&2; exit 3"]
        {crashing_app(max_restarts=0)}
    """)

    def failed(name: str) -> dict[str, Any] | None:
        found = hook(daemon, name)
        return found if found["failed"] else None

    assert wait_for(lambda: failed("slow"), 10)["last_error"] == "did not finish within 300ms"
    assert wait_for(lambda: failed("missing"), 10)["last_error"] == (
        "cannot run /nonexistent/notify: No such file or directory"
    )
    assert wait_for(lambda: failed("sad"), 10)["last_error"] == (
        "failed (exit status 3): no route to pager"
    )


def test_a_webhook_takes_its_url_and_key_from_the_secret_store(
    daemon: Client, load_apps: LoadApps, receiver: Callable[..., Receiver]
) -> None:
    server = receiver()
    daemon.call("setSecret", {"name": "hook-url", "value": server.url})
    daemon.call("setSecret", {"name": "hook-key", "value": "s3cr3t-key"})
    load_apps(f"""
        [hooks.slack]
        on = ["gave-up"]
        url = {{ secret = "hook-url" }}
        secret = {{ secret = "hook-key" }}
        headers = {{ Authorization = {{ secret = "hook-key" }} }}
        {crashing_app(max_restarts=0)}
    """)
    wait_for(lambda: server.requests, 10, what="the POST")
    [(_at, headers, body)] = server.requests
    signed = headers["X-Procward-Timestamp"].encode() + b"." + body
    expected = hmac.new(b"s3cr3t-key", signed, hashlib.sha256).hexdigest()
    assert headers["X-Procward-Signature"] == f"sha256={expected}"
    assert headers["Authorization"] == "s3cr3t-key"
    assert hook(daemon, "slack")["target"] == "the url in secret 'hook-url'"
    shown = daemon.call("inspect", {"name": "bad", "lines": 0})
    assert "s3cr3t" not in json.dumps(shown)
