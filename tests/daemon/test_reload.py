"""Reloading without downtime: held sockets, surge and rolling reloads, config reloads."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._errors import Conflict, InvalidParams
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from procward.supervision.state import marked_groups

from ..conftest import Result
from .conftest import (
    SERVER,
    Load,
    LoadApps,
    WriteConfig,
    app_instances,
    ask,
    pid_of,
    server_app,
    state_of,
    wait_all_state,
    wait_state,
)


def test_an_app_gets_the_daemons_socket_as_fd_3(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}'))
    wait_state(daemon, "web", "running")
    with open(f"{home}/fds.0") as f:
        assert f.read().split(" ", 2) == ["http", "3", f"('127.0.0.1', {port})\n"]
    assert ask(port) == pid_of(daemon, "web")


def test_an_app_holds_nothing_of_the_daemon_nor_of_the_other_apps(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    """Children start by posix_spawn, which closes only what is close-on-exec.

    With a held socket, other apps' pipes and the daemon's own socket open,
    a plain app has its three streams and nothing else.
    """
    load_apps(
        server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}')
        + '\n[apps.plain]\ncmd = ["sleep", "60"]\n'
    )
    wait_state(daemon, "web", "running")
    wait_state(daemon, "plain", "running")
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid_of(daemon, 'plain')}/fd")) == [0, 1, 2]


def test_a_surge_reload_under_load_refuses_no_connection(
    daemon: Client, load_apps: LoadApps, home: str, port: int, load: Callable[[], Load]
) -> None:
    with open(f"{home}/warmup", "w") as f:
        f.write("0.3")  # the new process takes its time: connections must wait, not fail
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', reload='"surge"'))
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    traffic = load()
    wait_for(lambda: len(traffic.answers) > 20, what="traffic")
    daemon.call("reloadApp", name="web")
    second = pid_of(daemon, "web")
    wait_for(lambda: traffic.answers[-1] == second, what="the new process to answer")
    daemon.call("restartApp", name="web")  # a plain restart loses nothing either
    third = pid_of(daemon, "web")
    wait_for(lambda: traffic.answers[-1] == third, what="the restarted process to answer")
    traffic.stop()
    assert traffic.failures == []
    assert len({first, second, third}) == 3
    assert first in traffic.answers and second in traffic.answers


def test_a_surge_reload_starts_the_new_process_before_stopping_the_old(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', reload='"surge"'))
    wait_state(daemon, "web", "running")
    daemon.call("reloadApp", name="web")
    wait_for(lambda: _events(home).count("stop") == 1, what="the old process to stop")
    assert _events(home)[:3] == ["start", "start", "stop"]
    assert app_instances(daemon, "web")[0]["restarts"] == 0  # a reload is not a crash


def test_a_failed_replacement_leaves_the_old_process_serving(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', reload='"surge"'))
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    open(f"{home}/broken", "w").close()
    with pytest.raises(Conflict, match=r"web:0: the new process failed \(exit status 3\)"):
        daemon.call("reloadApp", name="web")
    assert pid_of(daemon, "web") == first
    assert ask(port) == first
    assert app_instances(daemon, "web")[0]["state"] == "running"


def test_a_rolling_reload_keeps_one_instance_up_at_every_moment(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', instances="2"))
    before = [i["pid"] for i in wait_all_state(daemon, "web", "running", count=2)]
    daemon.call("reloadApp", name="web")
    after = [i["pid"] for i in wait_all_state(daemon, "web", "running", count=2)]
    assert set(before).isdisjoint(after)
    # stop 0, start 0 (ready), then stop 1, start 1: never both stopped.
    wait_for(lambda: len(_events(home, with_index=True)) == 6, what="six events")
    events = _events(home, with_index=True)
    assert sorted(events[:2]) == [("start", "0"), ("start", "1")]
    assert events[2:] == [("stop", "0"), ("start", "0"), ("stop", "1"), ("start", "1")]


def test_a_socket_already_taken_is_refused_at_load(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(InvalidParams) as refused:
            load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}'))
        assert str(refused.value) == (
            f"{home}/procward.toml: apps.web.sockets.http: "
            f"cannot listen on 127.0.0.1:{port}: Address already in use"
        )
        assert daemon.call("list") == []
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}'))  # free again
    wait_state(daemon, "web", "running")
    # Its own address is not "in use" when the file is read again.
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', instances="2"))
    wait_all_state(daemon, "web", "running", count=2)


def test_a_unix_socket_is_held_too(daemon: Client, load_apps: LoadApps, home: str) -> None:
    path = f"{home}/web.sock"
    load_apps(server_app(home, sockets=f'{{ api = "{path}" }}'))
    wait_state(daemon, "web", "running")
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(path)
        conn.sendall(b"?")
        assert int(conn.recv(100)) == pid_of(daemon, "web")
    daemon.call("deleteApp", name="web")
    assert not os.path.exists(path)


def test_procward_reload_applies_a_changed_config_without_downtime(
    daemon: Client,
    write_config: WriteConfig,
    cli: Callable[..., Result],
    home: str,
    port: int,
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    path = write_config(server_app(home, sockets=sockets, reload='"surge"', env='{ V = "1" }'))
    assert cli("up", "-c", path).code == 0
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    write_config(server_app(home, sockets=sockets, reload='"surge"', env='{ V = "2" }'))
    result = cli("reload")
    assert result.code == 0, result.err
    assert f"{path}:\n  reloaded: web\n" in result.out
    assert pid_of(daemon, "web") != first
    assert daemon.call("getEnv", name="web")["V"] == "2"
    assert _events(home)[:3] == ["start", "start", "stop"]  # new before old: no gap


def test_a_bad_config_reload_changes_nothing(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str, port: int
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    path = write_config(server_app(home, sockets=sockets))
    assert cli("up", "-c", path).code == 0
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    write_config(server_app(home, sockets=sockets, instances='"two"'))
    result = cli("reload")
    assert result.code != 0
    assert "apps.web.instances: must be an integer >= 0, got 'two'" in result.err
    assert pid_of(daemon, "web") == first


def test_sighup_reloads_the_config(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str, port: int
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    path = write_config(server_app(home, sockets=sockets, env='{ V = "1" }'))
    assert cli("up", "-c", path).code == 0
    wait_state(daemon, "web", "running")
    write_config(server_app(home, sockets=sockets, env='{ V = "2" }'))
    os.kill(daemon.call("status")["daemon"]["pid"], signal.SIGHUP)
    wait_for(lambda: daemon.call("getEnv", name="web")["V"] == "2", what="the reload")
    wait_state(daemon, "web", "running")


def _events(home: str, *, with_index: bool = False, with_time: bool = False) -> list[Any]:
    try:
        with open(f"{home}/events") as f:
            lines = [line.split() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []
    if with_time:
        return [(what, index, float(when)) for what, index, when in lines]
    return [(what, index) if with_index else what for what, index, _ in lines]


def test_a_config_reload_can_shrink_and_grow_a_running_app(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str, port: int
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    path = write_config(server_app(home, sockets=sockets, instances="2", env='{ V = "1" }'))
    assert cli("up", "-c", path).code == 0
    old = [i["pid"] for i in wait_all_state(daemon, "web", "running", count=2)]
    write_config(server_app(home, sockets=sockets, instances="1", env='{ V = "2" }'))
    assert "reloaded: web" in cli("reload").out
    [kept] = wait_all_state(daemon, "web", "running", count=1)
    assert kept["pid"] not in old
    write_config(server_app(home, sockets=sockets, instances="3", env='{ V = "2" }'))
    assert "scaled: web" in cli("reload").out
    grown = wait_all_state(daemon, "web", "running", count=3)
    assert grown[0]["pid"] == kept["pid"]  # same definition: only the new ones start
    assert daemon.call("getEnv", name="web", instance=2)["V"] == "2"


def test_changed_log_settings_restart_the_app(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str, port: int
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    path = write_config(server_app(home, sockets=sockets))
    assert cli("up", "-c", path).code == 0
    wait_state(daemon, "web", "running")
    write_config(server_app(home, sockets=sockets, log_time="true"))
    assert "changed: web" in cli("reload").out
    wait_state(daemon, "web", "running")


def test_a_stop_during_a_surge_reload_stops_the_replacement_too(
    daemon: Client, load_apps: LoadApps, home: str, port: int, paths: InstancePaths
) -> None:
    sockets = f'{{ http = "127.0.0.1:{port}" }}'
    load_apps(server_app(home, sockets=sockets, reload='"surge"', stop_timeout='"500ms"'))
    wait_state(daemon, "web", "running")
    with open(f"{home}/warmup", "w") as f:
        f.write("30")  # the replacement would take its time being ready
    errors: list[Exception] = []

    def reload() -> None:
        with Client.open(paths.socket) as other:
            try:
                other.call("reloadApp", name="web")
            except Exception as exc:
                errors.append(exc)

    reloading = threading.Thread(target=reload)
    reloading.start()
    wait_for(lambda: _events(home).count("start") == 2, what="the replacement to start")
    daemon.call("stopApp", name="web")
    reloading.join(30)
    assert [str(e) for e in errors] == ["web was stopped during the reload"]
    assert isinstance(errors[0], Conflict)
    wait_for(lambda: not marked_groups(paths.state_dir, exclude=set()), what="nothing left")


def test_a_ready_probe_on_the_held_socket_is_refused_at_load(
    daemon: Client, write_config: WriteConfig, cli: Callable[..., Result], home: str, port: int
) -> None:
    # What the README once showed: the old process answers the probe through the
    # shared socket, so a broken new version was declared ready and the old one stopped.
    path = write_config(f"""
        [apps.web]
        cmd = ["{sys.executable}", "{SERVER}", "{home}"]
        sockets = {{ http = "127.0.0.1:{port}" }}
        reload = "surge"
        ready = {{ http = "http://127.0.0.1:{port}/" }}
    """)
    result = cli("up", "-c", path)
    assert result.code != 0
    assert 'apps.web.ready.http: with reload = "surge" the new process starts' in result.err
    assert daemon.call("list") == []  # nothing applied


def test_a_probe_reaching_the_held_socket_through_env_file_fails_the_spawn(
    daemon: Client, load_apps: LoadApps, home: str, port: int
) -> None:
    with open(f"{home}/app.env", "w") as f:
        f.write(f"PORT={port}\n")
    load_apps(f"""
        [apps.web]
        cmd = ["{sys.executable}", "{SERVER}", "{home}"]
        env_file = "app.env"
        sockets = {{ http = "127.0.0.1:{port}" }}
        ready = {{ tcp = "127.0.0.1:$PORT" }}
    """)
    wait_state(daemon, "web", "backoff")
    error = app_instances(daemon, "web")[0]["error"]
    assert f"ready.tcp: 127.0.0.1:{port} is the app's held socket 'http'" in error


def test_a_broken_new_version_is_never_declared_ready(  # noqa: PLR0917
    daemon: Client,
    load_apps: LoadApps,
    cli: Callable[..., Result],
    home: str,
    port: int,
    load: Callable[[], Load],
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', reload='"surge"'))
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    traffic = load()
    wait_for(lambda: len(traffic.answers) > 20, what="traffic")
    with open(f"{home}/broken", "w") as f:
        f.write("1")  # the new version serves for a second, never says READY=1, exits 3
    result = cli("reload", "web")
    assert result.code == 1
    assert "web:0: the new process failed (exit status 3)" in result.err
    assert pid_of(daemon, "web") == first
    served = len(traffic.answers)
    wait_for(lambda: len(traffic.answers) > served + 20, what="more answers")
    traffic.stop()
    assert traffic.failures == []
    assert traffic.answers[-1] == first
    assert state_of(daemon, "web") == "running"


def test_a_failed_rolling_reload_says_where_it_stopped_and_exits_1(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Result], home: str, port: int
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', instances="3"))
    old = [i["pid"] for i in wait_all_state(daemon, "web", "running", count=3)]
    open(f"{home}/broken", "w").close()
    result = cli("reload", "web")
    assert result.code == 1
    assert result.err == (
        "procward: web:0: the new process failed (exit status 3); the reload stopped at "
        "web:0, web:0 is down and restarts by its restart policy, web:1 web:2 not touched\n"
    )
    assert [i["pid"] for i in app_instances(daemon, "web")][1:] == old[1:]
    assert "the reload stopped at web:0" in daemon.call("getApp", name="web")["error"]


def test_a_slow_replacement_is_waited_for_before_the_next(  # noqa: PLR0917
    daemon: Client,
    load_apps: LoadApps,
    cli: Callable[..., Result],
    home: str,
    port: int,
    load: Callable[[], Load],
) -> None:
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', instances="2"))
    old = [i["pid"] for i in wait_all_state(daemon, "web", "running", count=2)]
    with open(f"{home}/warmup", "w") as f:
        f.write("1")  # each new process takes a second before READY=1
    traffic = load()
    wait_for(lambda: len(traffic.answers) > 20, what="traffic")
    result = cli("reload", "web")
    assert result.code == 0, result.err
    new = [i["pid"] for i in app_instances(daemon, "web")]
    traffic.stop()
    assert set(new).isdisjoint(old)
    assert traffic.failures == []
    # Replaced one at a time, each only once ready: the second old process
    # stopped after the first new one had warmed up (never declared by a sibling).
    events = _events(home, with_index=True, with_time=True)
    starts = [t for what, index, t in events if what == "start"][2:]
    stops = [t for what, index, t in events if what == "stop"]
    assert len(starts) == 2 and len(stops) == 2
    assert stops[1] - starts[0] >= 1.0
