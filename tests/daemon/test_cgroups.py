"""Each instance in a cgroup of its own (issue 14, item 4; decision 0039).

Each test makes a cgroup under the test runner's own (skipped where that is
not writable, or there is no cgroup v2 or no ``cgroup.kill``) and gives it to
its daemon (``PROCWARD_CGROUP``); at the end everything left in it is killed
through ``cgroup.kill`` and the subtree removed. Limits need their controller
delegated to that cgroup: those tests skip with the reason where it is not
(a hybrid host whose memory and pids controllers are on cgroup v1).

The escapees here clear their environment (``env -i``) as well as leaving
their process group: the /proc mechanism of ``escapees.py`` cannot place such
a process (only ``down`` ends it, as a stray); the cgroup holds it all the same.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import free_port, wait_for
from procward.supervision.delegation import own_cgroup, v2_mount

from ..conftest import Result
from .conftest import (
    LoadApps,
    app_instances,
    ask,
    kill_9,
    nonce,
    pid_of,
    pids_running,
    server_app,
    wait_state,
)


class MadeCgroup:
    """A cgroup made for one test; ``relative`` is what PROCWARD_CGROUP names."""

    def __init__(self, mount: str, path: str) -> None:
        self.mount = mount
        self.path = path
        self.relative = "/" + os.path.relpath(path, mount)

    @property
    def apps(self) -> str:
        return os.path.join(self.path, "apps")

    def instance(self, app: str, index: int = 0) -> str:
        return os.path.join(self.apps, f"{app}.{index}")

    def controllers(self) -> set[str]:
        with open(os.path.join(self.path, "cgroup.controllers")) as f:
            return set(f.read().split())

    def remove(self) -> None:
        """Kill what is left in it, then remove it bottom-up (with a deadline)."""
        with open(os.path.join(self.path, "cgroup.kill"), "w") as f:
            f.write("1")

        def removed() -> bool:
            for directory, _subdirs, _files in os.walk(self.path, topdown=False):
                try:
                    os.rmdir(directory)
                except OSError:
                    return False
            return True

        wait_for(removed, 10, what=f"{self.path} removed")


def _cgroup_or_skip() -> tuple[str, str]:
    mount = v2_mount()
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    own = own_cgroup(mount)
    if own is None or not os.access(own, os.W_OK):
        pytest.skip(f"the test runner's cgroup ({own}) is not writable: nothing to delegate")
    return mount, own


@pytest.fixture
def cgroup(home: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MadeCgroup]:
    mount, own = _cgroup_or_skip()
    made = MadeCgroup(mount, os.path.join(own, f"pwtest-{os.getpid()}-{random.randrange(1 << 30)}"))
    os.mkdir(made.path)
    try:
        if not os.path.exists(os.path.join(made.path, "cgroup.kill")):
            pytest.skip("this kernel has no cgroup.kill (Linux 5.14)")
        monkeypatch.setenv("PROCWARD_CGROUP", made.relative)
        yield made
    finally:
        made.remove()


def _cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        [line] = [line for line in f.read().splitlines() if line.startswith("0::")]
    return line[3:]


def _escaping(n: int) -> str:
    """A shell whose ``sleep n`` leaves its session, group and environment, then runs on."""
    return f'setsid env -i sh -c "sleep {n} &"; exec sleep 1{n}'


def test_each_instance_runs_in_its_own_cgroup_removed_when_it_ends(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, cli: Callable[..., Result]
) -> None:
    load_apps("""
        [apps.web]
        cmd = ["sleep", "1000"]
        instances = 2
        min_start = "0s"
        [apps.job]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    wait_state(daemon, "web", "running", index=1)
    wait_state(daemon, "job", "running")
    for index in (0, 1):
        expected = cgroup.relative + f"/apps/web.{index}"
        assert _cgroup_of(pid_of(daemon, "web", index)) == expected
    daemon_pid = daemon.call("ping")["pid"]
    assert "/apps/" not in _cgroup_of(daemon_pid)  # the children joined, not the daemon
    view = daemon.call("status")["daemon"]["cgroups"]
    assert view["in_use"] == "yes" and view["path"] == cgroup.path
    assert f"cgroups:     in use: {cgroup.path}" in cli("info").out

    daemon.call("scale", name="web", instances=1)
    assert not os.path.exists(cgroup.instance("web", 1))
    daemon.call("stopApp", name="web")
    wait_for(lambda: not os.path.exists(cgroup.instance("web", 0)), what="web.0 removed")
    daemon.call("deleteApp", name="job")
    assert not os.path.exists(cgroup.instance("job"))
    daemon.call("startApp", name="web")
    wait_state(daemon, "web", "running")
    assert os.path.isdir(cgroup.instance("web", 0))
    assert cli("down").code == 0
    assert not os.path.exists(cgroup.apps)  # the given cgroup itself is the test's


def test_the_daemon_never_steps_into_an_instances_cgroup_to_spawn(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, home: str
) -> None:
    """The child joins by itself: a migration waits for an RCU grace period of
    the kernel (10-20 ms on a busy machine), which the daemon spent with its
    loop blocked at every spawn while it stepped into the cgroup around its fork.

    Watched from a thread reading the daemon's cgroup as fast as it can while
    an app crash-loops through 40 spawns: the daemon is never seen in one.
    """
    starts = os.path.join(home, "starts")
    load_apps(f"""
        [apps.loop]
        cmd = ["sh", "-c", "echo >> {starts}; exit 3"]
        min_start = "0s"
        restart = "always"
        backoff = {{ initial = "0s", multiplier = 2, max = "0s" }}
        max_restarts = 1000000
    """)
    daemon_pid = daemon.call("ping")["pid"]
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.add(_cgroup_of(daemon_pid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        wait_for(lambda: _count_lines(starts) >= 40, 30, what="40 spawns")
    finally:
        done.set()
        watcher.join()
        daemon.call("stopApp", name="loop")
    assert not [path for path in seen if "/apps/" in path], seen


def test_a_program_gone_is_said_by_the_daemon_not_by_the_joining_shell(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, home: str
) -> None:
    """Through sh, an exec that fails would be exit 127 and a line in the app's log."""
    script = os.path.join(home, "job.sh")
    ran = os.path.join(home, "ran")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\ntouch {ran}\nexit 3\n")
    os.chmod(script, 0o755)
    load_apps(f"""
        [apps.job]
        cmd = ["{script}"]
        restart = "always"
        backoff = {{ initial = "0.2s", multiplier = 1, max = "0.2s" }}
        max_restarts = 1000
    """)
    wait_for(lambda: os.path.exists(ran), what="the first run")
    os.chmod(script, 0o644)
    wait_for(lambda: "permission denied" in (daemon.call("getApp", name="job")["error"] or ""))
    os.unlink(script)
    wait_for(lambda: "command not found" in (daemon.call("getApp", name="job")["error"] or ""))
    assert f"{script}: command not found" in daemon.call("getApp", name="job")["error"]
    daemon.call("stopApp", name="job")


def _count_lines(path: str) -> int:
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def test_an_app_with_held_sockets_joins_its_cgroup_too(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    """Such an app starts by posix_spawn (its sockets at fds 3, 4, …): born in it too."""
    load_apps(f"""
        [apps.held]
        cmd = ["sleep", "1000"]
        sockets = {{ http = "127.0.0.1:{free_port()}" }}
    """)
    wait_state(daemon, "held", "running")
    assert _cgroup_of(pid_of(daemon, "held")) == cgroup.relative + "/apps/held.0"


@pytest.mark.skipif(os.geteuid() != 0, reason="running an app as another user takes root")
def test_an_app_run_as_another_user_with_limits_joins_its_cgroup_too(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    """Started through the limits shim (decision 0038): it joins its cgroup as root,
    before the shim drops to the app's user, who could not write there."""
    load_apps("""
        [apps.confined]
        cmd = ["sleep", "1000"]
        user = "nobody"
        limits = { nofile = 512 }
    """)
    wait_state(daemon, "confined", "running")
    pid = pid_of(daemon, "confined")
    assert _cgroup_of(pid) == cgroup.relative + "/apps/confined.0"
    with open(f"/proc/{pid}/status") as f:
        assert any(line.split()[:2] == ["Uid:", str(pwd.getpwnam("nobody").pw_uid)] for line in f)
    assert "/apps/" not in _cgroup_of(daemon.call("ping")["pid"])


def test_a_surge_replacement_runs_in_a_cgroup_beside_the_old_ones(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, home: str
) -> None:
    """Old and new of one index run together: the old one's stop must not touch the new."""
    port = free_port()
    load_apps(server_app(home, sockets=f'{{ http = "127.0.0.1:{port}" }}', reload='"surge"'))
    wait_state(daemon, "web", "running")
    first = pid_of(daemon, "web")
    assert _cgroup_of(first) == cgroup.relative + "/apps/web.0"
    daemon.call("reloadApp", name="web")
    second = pid_of(daemon, "web")
    assert second != first and ask(port) == second
    assert _cgroup_of(second) == cgroup.relative + "/apps/web.0.1"
    wait_for(lambda: not os.path.exists(cgroup.instance("web")), what="the old cgroup removed")
    daemon.call("reloadApp", name="web")  # and back: web.0 is free again
    assert _cgroup_of(pid_of(daemon, "web")) == cgroup.relative + "/apps/web.0"
    daemon.call("stopApp", name="web")
    wait_for(lambda: _only_files(cgroup.apps), what="every instance cgroup removed")


def _only_files(path: str) -> bool:
    return not [e for e in os.scandir(path) if e.is_dir()]


def test_stop_kills_a_double_fork_that_left_group_session_and_environment(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", '{_escaping(n)}']
    """)
    wait_state(daemon, "esc", "running")
    [escapee] = wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")
    leader = pid_of(daemon, "esc")
    assert os.getsid(escapee) != os.getsid(leader)  # no process group signal reaches it
    assert os.getpgid(escapee) != leader
    assert _cgroup_of(escapee) == cgroup.relative + "/apps/esc.0"
    daemon.call("stopApp", name="esc")
    assert not pids_running(f"sleep {n}"), "stop returned with the escapee alive"
    assert state_is(daemon, "esc", "stopped")
    wait_for(lambda: not os.path.exists(cgroup.instance("esc")), what="esc.0 removed")


def test_a_kill_at_the_stop_timeout_goes_through_cgroup_kill(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    """An escapee that ignores TERM: the stop timer's KILL reaches it through the cgroup."""
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", 'setsid env -i sh -c "trap \\"\\" TERM; sleep {n}" & exec sleep 1{n}']
        stop_timeout = "1s"
    """)
    wait_state(daemon, "esc", "running")
    wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")
    daemon.call("stopApp", name="esc")
    assert not pids_running(f"sleep {n}")
    assert not pids_running(f"sleep 1{n}")


def test_the_cgroup_and_the_escapee_scan_do_not_both_act(
    cgroup: MadeCgroup,
    daemon: Client,
    load_apps: LoadApps,
    paths: InstancePaths,
) -> None:
    """An escapee that kept its environment, parent dead (escapees.py's orphan case):
    the cgroup ends it, and ``down`` finds no stray to end after it."""
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", "(setsid sleep {n} &); exec sleep 1{n}"]
    """)
    wait_state(daemon, "esc", "running")
    wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")
    daemon.call("stopApp", name="esc")
    assert not pids_running(f"sleep {n}")
    with open(paths.daemon_log) as f:
        log = f.read()
    assert "in its cgroup outside its group" in log
    assert "started outside its process group" not in log  # the /proc scan did not run


def test_a_leader_that_exits_leaving_a_daemon_behind_has_it_killed(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, home: str
) -> None:
    n = nonce()
    left = os.path.join(home, "left")  # the leader exits once its child has left the group
    script = (
        f"setsid sh -c 'touch {left}; exec env -i sleep {n}' & "
        f"while [ ! -e {left} ]; do sleep 0.01; done; exit 0"
    )
    load_apps(f"""
        [apps.bg]
        cmd = ["sh", "-c", {json.dumps(script)}]
        restart = "never"
    """)
    wait_state(daemon, "bg", "exited")
    wait_for(lambda: not pids_running(f"sleep {n}"), what="the daemonized child killed")
    assert "left" in (daemon.call("getApp", name="bg")["error"] or "")
    wait_for(lambda: not os.path.exists(cgroup.instance("bg")), what="bg.0 removed")


def test_a_crashed_daemons_cgroups_are_emptied_and_removed_at_the_next_start(
    cgroup: MadeCgroup, cli: Callable[..., Result], paths: InstancePaths, load_apps: LoadApps
) -> None:
    n = nonce()
    assert cli("up").code == 0
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", '{_escaping(n)}']
        [apps.gone]
        cmd = ["sleep", "1000"]
    """)
    with Client.open(paths.socket) as client:
        wait_state(client, "esc", "running")
    [escapee] = wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")
    kill_9(paths)
    os.makedirs(cgroup.instance("old", 3))  # one the last daemon made for an app since deleted
    try:
        assert cli("up").code == 0
        assert escapee not in pids_running(f"sleep {n}")  # no marker: the cgroup had it
        assert not os.path.exists(cgroup.instance("old", 3))
        with Client.open(paths.socket) as client:
            wait_state(client, "esc", "running")  # started again, in a cgroup of its own
            assert _cgroup_of(pid_of(client, "esc")) == cgroup.relative + "/apps/esc.0"
    finally:
        assert cli("down").code == 0


def test_an_upgrade_keeps_each_instance_in_its_cgroup(
    cgroup: MadeCgroup,
    daemon: Client,
    load_apps: LoadApps,
    cli: Callable[..., Result],
    paths: InstancePaths,
) -> None:
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", '{_escaping(n)}']
    """)
    wait_state(daemon, "esc", "running")
    pid = pid_of(daemon, "esc")
    wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")
    shown = cli("upgrade")
    assert shown.code == 0, shown.err
    with Client.open(paths.socket) as client:
        assert pid_of(client, "esc") == pid
        assert _cgroup_of(pid) == cgroup.relative + "/apps/esc.0"
        client.call("stopApp", name="esc")  # the new program stops it through the cgroup
        assert not pids_running(f"sleep {n}")
    wait_for(lambda: not os.path.exists(cgroup.instance("esc")), what="esc.0 removed")


def test_metrics_come_from_the_cgroup_and_count_what_left_the_group(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    """CPU from ``cpu.stat`` (no controller needed), members from ``cgroup.procs``: the
    escapee counts, where the process group's /proc reading would not see it."""
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", '{_escaping(n)}']
    """)
    wait_state(daemon, "esc", "running")
    wait_for(lambda: pids_running(f"sleep {n}"), what="the escapee")

    def measured() -> dict[str, Any] | None:
        [inst] = daemon.call("getMetrics", name="esc")["apps"][0]["instances"]
        return inst if inst["processes"] == 2 else None  # once the middle shell has exited

    inst = wait_for(measured, what="the leader and the escapee measured")
    assert inst["cpu"] is not None and inst["memory"] > 0


def test_max_memory_reads_the_cgroup(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps
) -> None:
    """The guard's reading comes from the instance's cgroup: restarted within two samples."""
    daemon.call("setMetricsEnabled", enabled=False, interval=0.2)
    hog = "import time; b = b'x' * (80 << 20); time.sleep(600)"
    load_apps(f"""
        [apps.hog]
        cmd = ["{sys.executable}", "-c", "{hog}"]
        max_memory = "40MB"
        min_start = "0s"
    """)
    wait_state(daemon, "hog", "running")
    wait_for(lambda: app_instances(daemon, "hog")[0]["restarts"] >= 1, 15, what="a restart")
    assert "over max_memory 40 MB" in daemon.call("getApp", name="hog")["error"]
    daemon.call("stopApp", name="hog")


def _limit_test(cgroup: MadeCgroup, controller: str) -> None:
    if controller not in cgroup.controllers():
        pytest.skip(
            f"the {controller} controller is not delegated to {cgroup.path} "
            f"(cgroup.controllers: {' '.join(sorted(cgroup.controllers())) or 'none'})"
        )


def test_memory_max_is_enforced(cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps) -> None:
    """Killed by the OOM killer in its own cgroup, or (with swap) held under the limit."""
    _limit_test(cgroup, "memory")
    hog = "import time; b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(60)"
    load_apps(f"""
        [apps.hog]
        cmd = ["{sys.executable}", "-c", "{hog}"]
        memory_max = "64MB"
        restart = "never"
    """)
    path = cgroup.instance("hog")
    wait_for(lambda: os.path.exists(path), what="its cgroup")
    with open(os.path.join(path, "memory.max")) as f:
        assert int(f.read()) == 64 << 20

    def held() -> bool:
        [inst] = app_instances(daemon, "hog")
        if inst["state"] in ("crashed", "exited"):
            return bool(inst["exit_signal"] == 9)  # the kernel's OOM killer
        with open(os.path.join(path, "memory.events")) as f:
            events = dict(line.split() for line in f.read().splitlines())
        return int(events.get("max", 0)) > 0  # reached the limit and held there

    wait_for(held, 30, what="memory_max enforced")
    assert "memory" in daemon.call("status")["daemon"]["cgroups"]["controllers"]


def test_pids_max_refuses_forks(
    cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    _limit_test(cgroup, "pids")
    load_apps("""
        [apps.forker]
        cmd = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 100 & done; wait"]
        pids_max = 4
    """)
    wait_state(daemon, "forker", "running")
    path = cgroup.instance("forker")
    wait_for(lambda: _count(path) == 4, what="4 processes")
    with open(os.path.join(path, "pids.events")) as f:
        assert int(f.read().split()[1]) > 0  # forks refused


def test_cpu_max_throttles(cgroup: MadeCgroup, daemon: Client, load_apps: LoadApps) -> None:
    _limit_test(cgroup, "cpu")
    load_apps(f"""
        [apps.spin]
        cmd = ["{sys.executable}", "-c", "while True: pass"]
        cpu_max = "20%"
    """)
    wait_state(daemon, "spin", "running")
    path = cgroup.instance("spin")
    with open(os.path.join(path, "cpu.max")) as f:
        assert f.read().split() == ["20000", "100000"]

    def throttled() -> bool:
        with open(os.path.join(path, "cpu.stat")) as f:
            stat = dict(line.split() for line in f.read().splitlines())
        return int(stat.get("nr_throttled", 0)) > 0

    wait_for(throttled, 10, what="the spinner throttled")
    daemon.call("stopApp", name="spin")


def _count(path: str) -> int:
    with open(os.path.join(path, "cgroup.procs")) as f:
        return len(f.read().split())


def state_is(client: Client, name: str, state: str) -> bool:
    return bool(app_instances(client, name)[0]["state"] == state)


def test_without_cgroups_info_says_why(cli: Callable[..., Result]) -> None:
    assert cli("up").code == 0
    try:
        shown = cli("info")
        assert "cgroups:     not in use: turned off (PROCWARD_CGROUP=off)" in shown.out
    finally:
        assert cli("down").code == 0


def test_a_daemon_in_a_writable_cgroup_makes_its_own_subtree_there(
    home: str, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result], paths: InstancePaths
) -> None:
    """Without PROCWARD_CGROUP: ``<its cgroup>/procward.<key>``, removed at ``down``."""
    from procward.supervision.delegation import subtree_name

    mount, own = _cgroup_or_skip()
    monkeypatch.delenv("PROCWARD_CGROUP")
    subtree = MadeCgroup(mount, os.path.join(own, subtree_name(paths.state_dir)))
    try:
        assert cli("start", "--name", "one", "--", "sleep", "1000").code == 0
        with Client.open(paths.socket) as client:
            wait_state(client, "one", "running")
            assert _cgroup_of(pid_of(client, "one")) == subtree.relative + "/apps/one.0"
        assert cli("down").code == 0
        assert not os.path.exists(subtree.path)
    finally:
        if os.path.exists(subtree.path):
            subtree.remove()


def test_a_limit_without_its_controller_is_said_at_load_and_the_app_runs(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.capped]
        cmd = ["sleep", "1000"]
        memory_max = "64MB"
        pids_max = 8
    """)
    wait_state(daemon, "capped", "running")
    with open(paths.daemon_log) as f:
        log = f.read()
    why = "cgroups not in use: turned off (PROCWARD_CGROUP=off)"
    assert f"capped: memory_max not enforced ({why}); it runs without it" in log
    assert f"capped: pids_max not enforced ({why})" in log
