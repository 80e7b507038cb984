"""No orphan, even from a program that leaves its process group (issue 10, item 3).

``setsid``, a daemonizing program or a shell with job control takes a process
out of the instance's group, where signalling the group cannot reach it.
Each test's escapee sleeps a number of seconds chosen for it, so it can be
found in /proc by its command line without confusing it with anything else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from procward.kit._client import Client
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, app_instances, nonce, pids_running, wait_state


def _escaped(argv: str) -> int:
    [pid] = wait_for(lambda: pids_running(argv) or None, what=f"{argv!r} to run")
    assert os.getpgid(pid) != os.getpgid(0)
    return pid


def _gone(argv: str, timeout: float = 10) -> None:
    wait_for(lambda: not pids_running(argv), timeout, what=f"{argv!r} to end")


def test_stop_ends_a_process_that_left_the_group(cli: Callable[..., Result]) -> None:
    n = nonce()
    started = cli("start", "--name", "esc", "--", "sh", "-c", f"setsid sleep {n} & exec sleep 1{n}")
    assert started.code == 0, started.err
    try:
        escapee = _escaped(f"sleep {n}")
        assert os.getsid(escapee) == escapee  # its own session: killpg cannot reach it
        assert cli("stop", "esc").code == 0
        assert not pids_running(f"sleep {n}"), "stop returned with the escapee alive"
        assert not pids_running(f"sleep 1{n}")
    finally:
        assert cli("down").code == 0
    _gone(f"sleep {n}")


def test_stop_ends_an_escapee_whose_parent_died(daemon: Client, load_apps: LoadApps) -> None:
    n = nonce()  # the subshell exits: its setsid child is handed to the daemon
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", "(setsid sleep {n} &); exec sleep 1{n}"]
    """)
    wait_state(daemon, "esc", "running")
    escapee = _escaped(f"sleep {n}")
    wait_for(lambda: _ppid(escapee) == daemon.call("ping")["pid"], what="the reparenting")
    daemon.call("stopApp", name="esc")
    assert not pids_running(f"sleep {n}")


def test_an_escapee_that_ignores_term_is_killed_and_waited_for(
    daemon: Client, load_apps: LoadApps
) -> None:
    n = nonce()
    load_apps(f"""
        [apps.esc]
        cmd = ["sh", "-c", "setsid sh -c 'trap \\"\\" TERM; exec sleep {n}' & exec sleep 1{n}"]
        stop_timeout = "300ms"
    """)
    wait_state(daemon, "esc", "running")
    _escaped(f"sleep {n}")
    daemon.call("stopApp", name="esc")
    assert app_instances(daemon, "esc")[0]["state"] == "stopped"
    assert not pids_running(f"sleep {n}")


def test_a_daemonizing_program_leaves_nothing_behind(daemon: Client, load_apps: LoadApps) -> None:
    n = nonce()  # starts a child in a session of its own and exits 0, as a daemon does
    fork = f"import subprocess; subprocess.Popen(['sleep', '{n}'], start_new_session=True)"
    load_apps(f"""
        [apps.forker]
        cmd = ["{sys.executable}", "-c", "{fork}"]
        restart = "never"
        min_start = "0s"
    """)
    wait_state(daemon, "forker", "exited")
    _gone(f"sleep {n}")
    app = daemon.call("getApp", name="forker")
    assert "running outside its process group; killed" in app["error"]


def test_down_ends_an_orphan_that_hid_where_it_came_from(
    cli: Callable[..., Result], load_apps: LoadApps
) -> None:
    n = nonce()  # `env -i`: nothing in its environment says which app it belongs to
    assert cli("up").code == 0
    load_apps(f"""
        [apps.hider]
        cmd = ["sh", "-c", "(setsid env -i sleep {n} &); exec sleep 1{n}"]
    """)
    _escaped(f"sleep {n}")
    assert cli("down").code == 0
    assert not pids_running(f"sleep {n}")


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])
