"""Supervising real programs through the daemon: restarts, stops, scale, crash recovery."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from procward.kit._client import Client, connect
from procward.kit._control import wait_exit
from procward.kit._errors import InvalidParams, NotFound
from procward.kit._metadata import read_metadata
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from procward.supervision.process import live_groups

from .conftest import (
    LoadApps,
    WriteConfig,
    app_instances,
    kill_and_wait_restart,
    pid_of,
    state_of,
    wait_all_state,
    wait_state,
)

FAST = 'backoff = { initial = "50ms", multiplier = 2, max = "200ms" }\nmin_start = "0s"'


def pgroup_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a group: init may take a while to reap here."""
    return sorted(live_groups().get(pgid, []))


def test_a_killed_child_is_restarted_with_backoff(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.srv]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    wait_state(daemon, "srv", "running")
    first = kill_and_wait_restart(daemon, "srv")
    second = pid_of(daemon, "srv")
    assert second != first
    inst = app_instances(daemon, "srv")[0]
    assert inst["exit_signal"] is None or inst["exit_signal"] == signal.SIGKILL


def test_a_crash_loop_ends_crashed_after_the_budget(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.loop]
        cmd = ["sh", "-c", "exit 3"]
        max_restarts = 3
        {FAST}
    """)
    wait_state(daemon, "loop", "crashed")
    inst = app_instances(daemon, "loop")[0]
    assert inst["restarts"] == 3 and inst["exit_code"] == 3
    status = daemon.call("status")
    assert status["healthy"] is False


def test_clean_exit_with_on_failure_is_exited_and_always_restarts(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps(f"""
        [apps.once]
        cmd = ["true"]
        {FAST}

        [apps.again]
        cmd = ["true"]
        restart = "always"
        max_restarts = 2
        {FAST}
    """)
    wait_state(daemon, "once", "exited")
    assert app_instances(daemon, "once")[0]["restarts"] == 0
    wait_state(daemon, "again", "crashed")  # always restarts, until the budget is spent
    assert app_instances(daemon, "again")[0]["restarts"] == 2


def test_scale_up_and_down(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.pool]
        cmd = ["sh", "-c", "echo $PROCWARD_INDEX; exec sleep 1000"]
        instances = 2
        {FAST}
    """)
    daemon.call("scale", name="pool", instances=4)
    pids = [i["pid"] for i in wait_all_state(daemon, "pool", "running", count=4)]
    daemon.call("scale", name="pool", instances=1)
    assert [i["index"] for i in app_instances(daemon, "pool")] == [0]
    assert app_instances(daemon, "pool")[0]["pid"] == pids[0], "the first instance is untouched"
    for pid in pids[1:]:
        assert wait_exit(pid, 5)
    assert daemon.call("getEnv", name="pool", instance=0)["PROCWARD_INDEX"] == "0"


def test_stop_kills_the_whole_group_including_grandchildren(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps(f"""
        [apps.tree]
        cmd = ["sh", "-c", "sleep 1000 & sleep 1000 & wait"]
        {FAST}
    """)
    wait_state(daemon, "tree", "running")
    leader = pid_of(daemon, "tree")
    wait_for(lambda: len(pgroup_members(leader)) == 3, what="sh and its two sleeps")
    daemon.call("stopApp", name="tree")
    assert state_of(daemon, "tree") == "stopped"
    assert pgroup_members(leader) == []


def test_stop_waits_for_a_stubborn_group_then_kills_it(daemon: Client, load_apps: LoadApps) -> None:
    # The leader exits on TERM; its child ignores TERM and must be KILLed at the timeout.
    load_apps(f"""
        [apps.stubborn]
        cmd = ["sh", "-c", "trap '' TERM; (trap '' TERM; exec sleep 1000) & trap - TERM; wait"]
        stop_timeout = "300ms"
        {FAST}
    """)
    wait_state(daemon, "stubborn", "running")
    leader = pid_of(daemon, "stubborn")
    wait_for(lambda: len(pgroup_members(leader)) == 2, what="sh and its sleep")
    daemon.call("stopApp", name="stubborn")
    assert state_of(daemon, "stubborn") == "stopped"
    assert pgroup_members(leader) == []


def test_stop_during_backoff_cancels_the_restart(daemon: Client, load_apps: LoadApps) -> None:
    load_apps("""
        [apps.slow]
        cmd = ["sh", "-c", "exit 1"]
        backoff = { initial = "10s" }
        min_start = "0s"
    """)
    wait_state(daemon, "slow", "backoff")
    daemon.call("stopApp", name="slow")
    assert state_of(daemon, "slow") == "stopped"


def test_missing_program_and_bad_cwd_are_refused_at_load(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    with pytest.raises(InvalidParams) as refused:
        load_apps("""
            [apps.ghost]
            cmd = ["no-such-program-xyz"]

            [apps.lost]
            cmd = ["true"]
            cwd = "/nonexistent/dir"

            [apps.script]
            cmd = ["./missing.sh"]
        """)
    lines = str(refused.value).splitlines()
    assert lines[0].startswith(
        f"{home}/procward.toml: apps.ghost.cmd: no-such-program-xyz: command not found (PATH="
    )
    assert lines[1:] == [
        f"{home}/procward.toml: apps.lost.cwd: /nonexistent/dir is not a directory",
        f"{home}/procward.toml: apps.script.cmd: ./missing.sh: no such file",
    ]
    assert daemon.call("list") == []  # nothing applied
    assert daemon.call("ping")["pid"]  # the daemon keeps serving


def test_a_program_removed_after_the_load_is_a_clear_spawn_error(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    script = os.path.join(home, "app.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec sleep 1000\n")
    os.chmod(script, 0o755)
    load_apps(f"""
        [apps.gone]
        cmd = ["{script}"]
        max_restarts = 0
        min_start = "0s"
    """)
    wait_state(daemon, "gone", "running")
    os.unlink(script)
    daemon.call("restartApp", name="gone")
    wait_state(daemon, "gone", "crashed")
    assert app_instances(daemon, "gone")[0]["error"] == f"{script}: command not found"


def test_dependencies_start_in_order_and_stop_in_reverse(
    daemon: Client, home: str, load_apps: LoadApps
) -> None:
    marks = os.path.join(home, "marks")
    load_apps(f"""
        [apps.db]
        cmd = ["sh", "-c", "echo db >> {marks}; exec sleep 1000"]
        min_start = "200ms"

        [apps.api]
        cmd = ["sh", "-c", "echo api >> {marks}; exec sleep 1000"]
        depends_on = ["db"]
        min_start = "0s"
    """)
    wait_state(daemon, "api", "running")
    with open(marks) as f:
        assert f.read().split() == ["db", "api"]
    graph = daemon.call("getDependencyGraph")
    assert graph["edges"] == [{"from": "api", "to": "db"}]


def test_stopping_an_app_stops_what_depends_on_it_first(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Any]
) -> None:
    load_apps(f"""
        [apps.db]
        cmd = ["sleep", "1000"]
        {FAST}
        [apps.web]
        cmd = ["sleep", "1000"]
        depends_on = ["db"]
        {FAST}
        [apps.worker]
        cmd = ["sleep", "1000"]
        depends_on = ["web"]
        {FAST}
        [apps.other]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    wait_state(daemon, "worker", "running")
    result = cli("stop", "db")
    assert result.code == 0, result.err
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == ["db", "web", "worker"]
    for name in ("db", "web", "worker"):
        assert state_of(daemon, name) == "stopped"
    assert state_of(daemon, "other") == "running"
    stopped = daemon.call("stopApp", name="web")["apps"]
    assert [(a["name"], a["desired"]) for a in stopped] == [
        ("web", "stopped"),
        ("worker", "stopped"),
    ]


def test_unknown_names_list_the_known_ones(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.web]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with pytest.raises(NotFound, match=r"no app named 'wbe' \(known: web\)"):
        daemon.call("stopApp", name="wbe")


def test_kill_9_of_the_daemon_leaves_exactly_the_intended_processes(
    cli: Callable[..., Any], paths: InstancePaths, home: str, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.keep]
        cmd = ["sh", "-c", "sleep 1000 & exec sleep 1000"]
        instances = 2
        {FAST}

        [apps.off]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with Client.open(paths.socket) as client:
        client.call("stopApp", name="off")
        old_groups = [i["pid"] for i in wait_all_state(client, "keep", "running", count=2)]
        wait_for(lambda: all(len(pgroup_members(g)) == 2 for g in old_groups))
    daemon_pid = read_metadata(paths).pid  # type: ignore[union-attr]
    os.kill(daemon_pid, signal.SIGKILL)
    assert wait_exit(daemon_pid, 5)
    assert all(pgroup_members(g) for g in old_groups), "the children outlive a kill -9"

    status = json.loads(cli("status", "--json").out)  # any command brings the daemon back
    assert read_metadata(paths).pid != daemon_pid  # type: ignore[union-attr]
    for group in old_groups:
        wait_for(lambda group=group: pgroup_members(group) == [], what="old generation gone")
    with Client.open(paths.socket) as client:
        new_groups = [i["pid"] for i in wait_all_state(client, "keep", "running", count=2)]
        assert state_of(client, "off") == "stopped", "a stopped app stays stopped"
        wait_for(lambda: all(len(pgroup_members(g)) == 2 for g in new_groups))
    assert {a["name"] for a in status["apps"]} == {"keep", "off"}
    # Exactly two groups of two processes run the app: nothing more, nothing less.
    sleepers = [p for p in _processes_named("sleep") if _home_of(p) == home]
    assert sorted(sleepers) == sorted(p for g in new_groups for p in pgroup_members(g))
    assert cli("down").code == 0


def _processes_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _home_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"PROCWARD_HOME="):
                    return item.split(b"=", 1)[1].decode()
    except OSError:
        return None
    return None


def test_down_then_up_restores_the_same_set(
    cli: Callable[..., Any], paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.on]
        cmd = ["sleep", "1000"]
        {FAST}

        [apps.off]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with Client.open(paths.socket) as client:
        client.call("stopApp", name="off")
        pid = pid_of(client, "on")
    assert cli("down").code == 0
    assert wait_exit(pid, 1), "down stops the apps"
    assert cli("up").code == 0
    with Client.open(paths.socket) as client:
        wait_state(client, "on", "running")
        assert state_of(client, "off") == "stopped"
    assert cli("down").code == 0


def test_corrupt_state_recovers_from_backup(
    cli: Callable[..., Any], paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps(f"""
        [apps.a]
        cmd = ["sleep", "1000"]
        {FAST}
    """)
    with Client.open(paths.socket) as client:
        wait_for(lambda: os.path.exists(paths.state), what="the first save")
        client.call("scale", name="a", instances=2)  # the next save keeps the first as .bak
    assert cli("down").code == 0
    with open(paths.state, "w") as f:
        f.write("{ this is not json")
    assert cli("up").code == 0
    with Client.open(paths.socket) as client:
        assert [a["name"] for a in client.call("list")] == ["a"]
        wait_all_state(client, "a", "running")
    with open(paths.daemon_log) as log:
        assert "recovered from" in log.read()
    assert cli("down").code == 0


def test_invalid_config_reports_every_problem_and_changes_nothing(
    daemon: Client, write_config: WriteConfig
) -> None:
    from procward.kit._errors import InvalidParams

    path = write_config("""
        [apps.web]
        cmd = "sleep 1"
        instance = 2
        restart = "sometimes"
        stop_timeout = "soon"
        depends_on = ["nowhere"]

        [apps.other]
        cmd = 5
    """)
    with pytest.raises(InvalidParams) as err:
        daemon.call("loadConfig", path=path)
    message = str(err.value)
    for needle in ("instance", "did you mean", "sometimes", "soon", "nowhere", "apps.other.cmd"):
        assert needle in message, needle
    assert daemon.call("list") == []


def test_adhoc_app_from_the_cli_is_kept(cli: Callable[..., Any], paths: InstancePaths) -> None:
    r = cli("start", "--name", "tick", "--", "sh", "-c", "exec sleep 1000")
    assert r.code == 0, r.err
    assert "tick" in r.out
    assert cli("down").code == 0
    r = cli("status")
    assert "tick" in r.out
    assert cli("up").code == 0  # `down` held it down until `up`
    with connect(paths) as client:
        wait_state(client, "tick", "running")
    assert cli("delete", "tick").code == 0
    assert "no apps" in cli("status").out
    assert cli("down").code == 0


def test_status_exit_code_and_table(
    cli: Callable[..., Any], paths: InstancePaths, write_config: WriteConfig
) -> None:
    config = write_config(f"""
        [apps.good]
        cmd = ["sleep", "1000"]
        {FAST}

        [apps.bad]
        cmd = ["false"]
        max_restarts = 0
        {FAST}
    """)
    r = cli("up", "-c", config)
    with connect(paths) as client:
        wait_state(client, "bad", "crashed")
    r = cli("status")
    assert r.code == 1
    header, *rows = r.out.splitlines()[1:]
    assert header.split() == ["NAME", "INST", "STATE", "PID", "UPTIME", "RESTARTS"]
    assert any(row.split()[:3] == ["bad", "0", "crashed"] for row in rows)
    assert any(row.split()[:3] == ["good", "0", "running"] for row in rows)
    assert cli("stop", "bad").code == 0
    assert cli("status").code == 0  # a stopped app is not expected to run
    assert cli("down").code == 0


def test_kill_ends_the_daemon_and_its_apps(
    cli: Callable[..., Any], paths: InstancePaths, write_config: WriteConfig
) -> None:
    config = write_config(f"""
        [apps.a]
        cmd = ["sh", "-c", "sleep 1000 & exec sleep 1000"]
        instances = 2
        {FAST}
    """)
    assert cli("up", "-c", config).code == 0
    with Client.open(paths.socket) as client:
        groups = [i["pid"] for i in wait_all_state(client, "a", "running", count=2)]
    r = cli("kill")
    assert r.code == 0, r.err
    assert "killed 2 app process groups" in r.out
    for group in groups:
        wait_for(lambda group=group: pgroup_members(group) == [], what=f"group {group} gone")


def test_down_racing_a_starting_up_stops_what_up_started(
    cli: Callable[..., Any], paths: InstancePaths, write_config: WriteConfig
) -> None:
    import subprocess
    import sys

    from procward.kit._lock import is_locked
    from procward.kit._metadata import Liveness, running
    from procward.supervision.state import marked_groups

    config = write_config(f"""
        [apps.a]
        cmd = ["sleep", "1000"]
        instances = 3
        {FAST}
    """)
    paths.ensure()
    up = subprocess.Popen(
        [sys.executable, "-m", "procward", "up", "-c", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: is_locked(paths.spawn_lock) or up.poll() is not None, what="up spawning")
        down = cli("down")
        assert down.code == 0
    finally:
        up.wait(timeout=30)
    assert running(paths)[0] is not Liveness.RUNNING
    wait_for(lambda: not marked_groups(paths.state_dir, exclude=set()), what="no app left")


def test_restart_and_stop_all_from_the_cli(
    cli: Callable[..., Any], paths: InstancePaths, write_config: WriteConfig
) -> None:
    config = write_config(f"""
        [apps.a]
        cmd = ["sleep", "1000"]
        {FAST}

        [apps.b]
        cmd = ["sleep", "1000"]
        depends_on = ["a"]
        {FAST}
    """)
    assert cli("up", "-c", config).code == 0
    with Client.open(paths.socket) as client:
        wait_state(client, "b", "running")
        before = {n: pid_of(client, n) for n in ("a", "b")}
    r = cli("restart", "all")
    assert r.code == 0, r.err
    with Client.open(paths.socket) as client:
        wait_for(lambda: all(state_of(client, n) == "running" for n in ("a", "b")))
        after = {n: pid_of(client, n) for n in ("a", "b")}
    assert all(before[n] != after[n] for n in before)
    r = cli("stop", "all")
    assert r.code == 0, r.err
    assert [line.split()[2] for line in r.out.splitlines()[1:]] == ["stopped", "stopped"]
    for pid in after.values():
        assert wait_exit(pid, 1)
    assert cli("down").code == 0


def test_an_adhoc_app_with_a_missing_program_is_refused(cli: Callable[..., Any]) -> None:
    result = cli("start", "--name", "typo", "--", "no-such-program-xyz", "--flag")
    assert result.code == 1
    assert "apps.typo.cmd: no-such-program-xyz: command not found" in result.err
    assert "no apps" in cli("status").out
    assert cli("down").code == 0


def test_the_dependency_graph_of_one_app(
    daemon: Client, load_apps: LoadApps, cli: Callable[..., Any]
) -> None:
    load_apps("""
        [apps.db]
        cmd = ["sleep", "1000"]
        autostart = false

        [apps.cache]
        cmd = ["sleep", "1000"]
        autostart = false

        [apps.api]
        cmd = ["sleep", "1000"]
        depends_on = ["db", "cache"]
        autostart = false

        [apps.worker]
        cmd = ["sleep", "1000"]
        depends_on = ["api", "cache"]
        autostart = false

        [apps.other]
        cmd = ["sleep", "1000"]
        autostart = false
    """)
    graph = daemon.call("getDependencyGraph", name="api")
    assert graph == {
        "nodes": ["api", "cache", "db", "worker"],
        "edges": [
            {"from": "api", "to": "cache"},
            {"from": "api", "to": "db"},
            {"from": "worker", "to": "api"},
        ],
    }
    shown = cli("graph", "api")
    assert (shown.code, shown.out) == (0, "api -> cache, db\ncache\ndb\nworker -> api\n")
    with pytest.raises(NotFound, match="no app named 'nope'"):
        daemon.call("getDependencyGraph", name="nope")
    assert len(daemon.call("getDependencyGraph")["nodes"]) == 5
