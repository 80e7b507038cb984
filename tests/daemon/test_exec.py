"""`procward exec`: one-off commands in an app's environment, on a real daemon."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from procward.kit._client import Client
from procward.kit._errors import Forbidden, InvalidParams, NotFound
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, WriteConfig, alive, pid_of, send_request, wait_state

APP = """
    [apps.web]
    cmd = ["sleep", "1000"]
    instances = 2
    env = {{ GREETING = "hello", SLOT = "slot-{{instance}}" }}
    min_start = "0s"

    [apps.web.commands]
    hello = ["sh", "-c",
        "echo $$GREETING $$SLOT {{instance}} $$PROCWARD_APP; echo to-err >&2; exit 3"]
    {extra}
"""


def load(load_apps: LoadApps, extra: str = "") -> None:
    load_apps(APP.format(extra=extra))


def test_a_declared_command_runs_as_an_instance_would(daemon: Client, load_apps: LoadApps) -> None:
    load(load_apps)
    result = daemon.call("exec", name="web", command="hello", instance=1)
    assert result["stdout"] == "hello slot-1 1 web\n"
    assert result["stderr"] == "to-err\n"
    assert (result["code"], result["signal"], result["timed_out"], result["error"]) == (
        3,
        None,
        False,
        None,
    )
    assert result["argv"][:2] == ["sh", "-c"] and result["instance"] == 1


def test_output_streams_while_the_command_runs(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    load(
        load_apps,
        f'wait = ["sh", "-c", "echo first; until [ -e {gate} ]; do sleep 0.01; done; echo 2nd>&2"]',
    )
    with Client.open(paths.socket) as caller:
        calls = caller.stream("exec", name="web", command="wait", stream=True)
        assert next(calls) == ("output", {"stream": "out", "data": "first\n"})
        gate.touch()  # it has not finished: it waits for this
        assert next(calls) == ("output", {"stream": "err", "data": "2nd\n"})
        with pytest.raises(StopIteration) as done:
            next(calls)
    result = done.value.value
    assert result["code"] == 0 and "stdout" not in result


def test_what_a_command_leaves_running_is_killed_when_it_exits(
    daemon: Client, load_apps: LoadApps
) -> None:
    load(load_apps, 'spawn = ["sh", "-c", "sleep 1000 & echo $$!"]')
    started = time.monotonic()
    result = daemon.call("exec", name="web", command="spawn")
    # The background sleep holds the output pipe open: it must not hold up the answer.
    assert time.monotonic() - started < 1.5
    assert result["code"] == 0
    left = int(result["stdout"])
    wait_for(lambda: not alive(left), what="the background sleep to be killed")


def test_a_command_past_its_timeout_is_stopped_with_its_group(
    daemon: Client, load_apps: LoadApps, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    load(load_apps, f'hang = ["sh", "-c", "sleep 1000 & echo $$! > {pidfile}; sleep 1000"]')
    result = daemon.call("exec", name="web", command="hang", timeout=0.5)
    assert result["timed_out"] and result["signal"] == "TERM"
    assert result["error"] == "did not finish within 500ms; stopped"
    background = int(pidfile.read_text())
    wait_for(lambda: not alive(background), what="the whole group to be gone")


def test_hanging_up_stops_the_command(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    load(load_apps, f'quiet = ["sh", "-c", "echo $$$$ > {pidfile}; exec sleep 1000"]')
    caller = send_request(paths, "exec", name="web", command="quiet")
    pid = wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pid file")
    assert alive(int(pid))
    caller.close()
    wait_for(lambda: not alive(int(pid)), what="the command to stop with its caller")
    assert daemon.call("ping")["pid"] > 0


def test_mistakes_get_clear_errors(daemon: Client, load_apps: LoadApps) -> None:
    load(load_apps)
    with pytest.raises(NotFound, match=r"web has no command 'helo' \(did you mean 'hello'\?\)"):
        daemon.call("exec", name="web", command="helo")
    with pytest.raises(InvalidParams, match="run what\\? web's commands: hello"):
        daemon.call("exec", name="web")
    with pytest.raises(InvalidParams, match=r"instance must be 0..1, got 2"):
        daemon.call("exec", name="web", command="hello", instance=2)
    with pytest.raises(InvalidParams, match="timeout must be more than 0s"):
        daemon.call("exec", name="web", command="hello", timeout=0)
    with pytest.raises(InvalidParams, match="invalid timeout 'soon'"):
        daemon.call("exec", name="web", command="hello", timeout="soon")
    with pytest.raises(NotFound, match="no app named 'nope'"):
        daemon.call("exec", name="nope", command="hello")
    missing = daemon.call("exec", name="web", args=["/no/such/program"])
    assert missing["code"] is None and "/no/such/program: command not found" in missing["error"]
    assert daemon.call("ping")["pid"] > 0


def test_operators_run_declared_commands_and_only_admins_their_own(
    daemon: Client, load_apps: LoadApps
) -> None:
    load(load_apps)
    address = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]

    def token(role: str) -> str:
        made: str = daemon.call("createToken", role=role, ttl="10m")["token"]
        return made

    with (
        Client.open_tcp(address, token("viewer")) as viewer,
        pytest.raises(Forbidden, match="exec needs the operator role"),
    ):
        viewer.call("exec", name="web", command="hello")
    with Client.open_tcp(address, token("operator")) as operator:
        assert operator.call("exec", name="web", command="hello")["code"] == 3
        with pytest.raises(Forbidden, match="a command line of your own takes an admin"):
            operator.call("exec", name="web", args=["id"])
        with pytest.raises(Forbidden, match="extra arguments takes an admin"):
            operator.call("exec", name="web", command="hello", args=["x"])
    with Client.open_tcp(address, token("admin")) as admin:
        assert admin.call("exec", name="web", args=["echo", "$HOME"])["stdout"] == "$HOME\n"
    audited = daemon.call("getAudit", name="exec", limit=10)
    outcomes = [(e["role"], e["outcome"]) for e in audited]
    assert ("operator", "ok") in outcomes and ("operator", "error") in outcomes


def test_changing_only_commands_leaves_the_processes_alone(
    daemon: Client, load_apps: LoadApps, write_config: WriteConfig
) -> None:
    load(load_apps)
    wait_state(daemon, "web", "running")
    before = pid_of(daemon, "web")
    write_config(APP.format(extra='bye = "echo bye"'))
    result = daemon.call("reloadConfig")["files"][0]
    assert result["updated"] == ["web"] and not result["reloaded"] and not result["changed"]
    assert pid_of(daemon, "web") == before
    assert daemon.call("exec", name="web", command="bye")["stdout"] == "bye\n"


def test_the_cli_streams_and_exits_as_the_command_did(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load(load_apps, 'ok = "echo fine"')
    hello = cli("exec", "web", "hello", "--index", "1")
    assert (hello.code, hello.out, hello.err) == (3, "hello slot-1 1 web\n", "to-err\n")
    assert cli("exec", "web", "ok").out == "fine\n"
    mine = cli("exec", "web", "--", "sh", "-c", "echo $0; kill -KILL $$")
    assert mine.code == 128 + 9 and mine.out == "sh\n"
    slow = cli("exec", "web", "--timeout", "300ms", "--", "sleep", "10")
    assert slow.code == 124 and "did not finish within 300ms" in slow.err
    missing = cli("exec", "web", "--", "no-such-program-here")
    assert missing.code == 127 and "no-such-program-here: command not found" in missing.err
    unknown = cli("exec", "web", "nope")
    assert unknown.code == 1 and "web has no command 'nope'" in unknown.err


def test_without_streaming_the_first_mib_of_each_stream_is_kept(
    daemon: Client, load_apps: LoadApps
) -> None:
    load(
        load_apps,
        'big = ["sh", "-c", "head -c 3000000 /dev/zero | tr \\"\\\\\\\\0\\" x; echo done >&2"]',
    )
    result = daemon.call("exec", name="web", command="big")
    assert result["code"] == 0 and result["stderr"] == "done\n"
    assert result["stdout"] == "x" * 1024 * 1024
    assert result["dropped"] == {"out": 3_000_000 - 1024 * 1024}
