"""The procward daemon's life, driven through the CLI with real processes."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from procward.kit._client import Client
from procward.kit._control import signal_process, wait_exit
from procward.kit._lock import is_locked
from procward.kit._metadata import Liveness, read_metadata, running
from procward.kit._paths import InstancePaths
from procward.kit._procinfo import ProcessIdentity
from procward.kit.testing import wait_for

from .conftest import LoadApps, pid_of, start_sleeper, wait_state

Cli = Callable[..., "object"]


def daemon_pid(paths: InstancePaths) -> int:
    meta = read_metadata(paths)
    assert meta is not None, "no daemon.json"
    return meta.pid


def test_any_command_starts_the_daemon(cli, paths: InstancePaths) -> None:
    assert running(paths)[0] is Liveness.NOT_RUNNING
    r = cli("ping")
    assert r.code == 0, r.err
    assert r.out.startswith("pong from procward ")
    liveness, meta = running(paths)
    assert liveness is Liveness.RUNNING
    assert meta is not None and f"pid {meta.pid}" in r.out
    assert meta.identity.matches_live()


def test_ping_no_spawn_reports_not_running(cli, paths: InstancePaths) -> None:
    r = cli("ping", "--no-spawn")
    assert r.code == 3
    assert "not running" in r.err
    assert running(paths)[0] is Liveness.NOT_RUNNING


def test_ten_concurrent_first_calls_start_one_daemon(cli, paths: InstancePaths) -> None:
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: cli("--json", "ping"), range(10)))
    assert all(r.code == 0 for r in results), [r.err for r in results]
    pids = {json.loads(r.out)["pid"] for r in results}
    assert pids == {daemon_pid(paths)}
    with open(paths.daemon_log) as log:
        started = [line for line in log if "serving on" in line]
    assert len(started) == 1


def test_socket_is_0600_and_dirs_are_0700(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    assert stat.S_IMODE(os.stat(paths.socket).st_mode) == 0o600
    for directory in (paths.runtime_dir, paths.state_dir, paths.log_dir):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_recovers_from_kill_9(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    old = daemon_pid(paths)
    os.kill(old, signal.SIGKILL)
    assert wait_exit(old, 5)
    wait_for(lambda: not is_locked(paths.lock), what="the lock to be released")
    assert os.path.exists(paths.socket) and os.path.exists(paths.metadata)
    assert running(paths)[0] is Liveness.STALE
    assert cli("info").out.startswith("daemon:") and "died uncleanly" in cli("info").out

    r = cli("ping")
    assert r.code == 0, r.err
    new = daemon_pid(paths)
    assert new != old
    assert running(paths)[0] is Liveness.RUNNING


def test_recycled_pid_is_not_mistaken_for_the_daemon(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    meta = read_metadata(paths)
    assert meta is not None
    assert cli("kill").code == 0
    # A live, unrelated process now owns the pid the metadata records.
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        forged = json.loads(meta.to_json())
        forged["pid"] = stranger.pid
        with open(paths.metadata, "w") as f:
            json.dump(forged, f)
        assert running(paths)[0] is Liveness.STALE
        assert "procward is not running" in cli("kill").out
        r = cli("ping")
        assert r.code == 0, r.err
        assert daemon_pid(paths) != stranger.pid
        assert stranger.poll() is None, "the unrelated process was signalled"
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize(("command", "done"), [("down", "stopped"), ("kill", "killed")])
def test_a_forged_daemon_json_does_not_hide_the_daemon(
    cli, paths: InstancePaths, command: str, done: str
) -> None:
    # daemon.json names a live process that is not the daemon: the lock says who is.
    assert cli("up").code == 0
    pid = daemon_pid(paths)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        with open(paths.metadata) as f:
            forged = json.load(f)
        forged["pid"] = stranger.pid
        with open(paths.metadata, "w") as f:
            json.dump(forged, f)
        info = json.loads(cli("info", "--json").out)
        assert (info["daemon"], info["pid"]) == ("running", pid)
        r = cli(command)
        assert r.code == 0 and f"procward {done} (pid {pid})" in r.out, r
        assert wait_exit(pid, 5)
        assert running(paths)[0] is Liveness.NOT_RUNNING
        assert stranger.poll() is None, "the unrelated process was signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_second_run_fails_with_already_running(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    pid = daemon_pid(paths)
    r = cli("run", timeout=10)
    assert r.code == 1
    assert f"already running (pid {pid})" in r.err


def test_bind_error_reaches_the_caller(cli, paths: InstancePaths) -> None:
    os.makedirs(paths.socket, mode=0o700)  # a directory where the socket should be
    os.chmod(paths.runtime_dir, 0o700)
    r = cli("up")
    assert r.code == 1
    assert "daemon failed to start" in r.err
    assert "exists and is not a socket" in r.err
    assert running(paths)[0] is not Liveness.RUNNING


def test_socket_path_too_long_is_a_clear_error(cli, home: str) -> None:
    deep = os.path.join(home, "x" * 100)
    r = cli("up", env={"PROCWARD_HOME": deep})
    assert r.code == 1
    assert "socket path is" in r.err and "over the limit" in r.err


def test_unsafe_home_is_refused(cli, paths: InstancePaths) -> None:
    os.makedirs(paths.state_dir)
    os.chmod(paths.state_dir, 0o755)
    r = cli("up")
    assert r.code == 1
    assert "must be private (0700)" in r.err


def test_down_is_graceful_and_removes_files(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    pid = daemon_pid(paths)
    r = cli("down")
    assert r.code == 0
    assert f"stopped (pid {pid})" in r.out
    assert not os.path.exists(paths.socket)
    assert not os.path.exists(paths.metadata)
    assert not is_locked(paths.lock)
    assert os.path.exists(paths.lock), "the lock file is never removed"
    assert "procward is not running" in cli("down").out


def test_foreground_run_exits_0_on_sigterm(home: str, paths: InstancePaths) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "procward", "run"], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: running(paths)[0] is Liveness.RUNNING and os.path.exists(paths.socket))
        wait_for(lambda: read_metadata(paths), what="metadata")
        assert daemon_pid(paths) == proc.pid, "run must exec, keeping the pid"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    assert "serving on" in err and "shutting down (SIGTERM)" in err  # text logs in the foreground
    assert not os.path.exists(paths.socket)
    assert not os.path.exists(paths.metadata)


def test_kill_sigkills_the_daemon(cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    pid = daemon_pid(paths)
    r = cli("kill")
    assert r.code == 0 and f"killed (pid {pid})" in r.out
    assert wait_exit(pid, 5)
    assert running(paths)[0] is Liveness.NOT_RUNNING


def test_daemon_fds_are_close_on_exec(cli, paths: InstancePaths) -> None:
    """The lock, the socket and the ready pipe must never reach supervised children."""
    assert cli("up").code == 0
    pid = daemon_pid(paths)
    fd_dir = f"/proc/{pid}/fd"
    leaked = []
    for name in os.listdir(fd_dir):
        if int(name) <= 2:
            continue
        with open(f"/proc/{pid}/fdinfo/{name}") as info:
            flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
        if not flags & os.O_CLOEXEC:
            leaked.append(os.readlink(f"{fd_dir}/{name}"))
    assert leaked == []


def test_status_json_describes_the_daemon(cli, paths: InstancePaths) -> None:
    r = cli("status", "--json")
    assert r.code == 0, r.err
    status = json.loads(r.out)
    assert status["daemon"]["pid"] == daemon_pid(paths)
    assert status["daemon"]["paths"]["socket"] == paths.socket
    assert status["apps"] == []


def test_info_shows_paths_without_starting(cli, paths: InstancePaths) -> None:
    r = cli("info", "--json")
    assert r.code == 0
    info = json.loads(r.out)
    assert info["daemon"] == "not running"
    assert info["socket"] == paths.socket
    assert running(paths)[0] is Liveness.NOT_RUNNING


def test_instances_are_independent(cli, home: str) -> None:
    a = cli("--instance", "a", "--json", "ping")
    b = cli("--instance", "b", "--json", "ping")
    assert a.code == b.code == 0
    assert json.loads(a.out)["pid"] != json.loads(b.out)["pid"]
    assert sorted(os.listdir(home)) == ["a", "b"]


def test_the_daemon_leaves_openssl_out(cli, paths: InstancePaths) -> None:
    # It serves a Unix socket only: no libssl/libcrypto, a fifth of its memory (decision 0008).
    assert cli("up").code == 0
    with open(f"/proc/{daemon_pid(paths)}/maps") as maps:
        mapped = maps.read()
    assert "libpython" in mapped or "python" in mapped  # the file is the daemon's
    assert "libssl" not in mapped and "libcrypto" not in mapped


def test_shutdown_force_kills_the_apps_at_once_and_keeps_the_state(
    cli, paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    load_apps("""
        [apps.stubborn]
        cmd = ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]
        stop_timeout = "30s"
        min_start = "0s"
    """)
    with Client.open(paths.socket) as client:
        wait_state(client, "stubborn", "running")
        app = pid_of(client, "stubborn")
        pid = daemon_pid(paths)
        started = time.monotonic()
        assert client.call("shutdown", force=True) == {"success": True}
    assert wait_exit(pid, 10) and wait_exit(app, 1)
    assert time.monotonic() - started < 5, "force must not wait for the 30 s stop_timeout"
    assert running(paths)[0] is Liveness.NOT_RUNNING  # a clean exit: files removed
    assert cli("up").code == 0  # and the state was saved: the app is meant to run
    with Client.open(paths.socket) as client:
        wait_state(client, "stubborn", "running")
        client.call("stopApp", name="stubborn", force=True)


def test_run_detached_returns_and_the_daemon_outlives_the_callers_group(
    cli, paths: InstancePaths
) -> None:
    # The caller leads a process group of its own, as a shell's job does.
    proc = subprocess.Popen(
        [sys.executable, "-m", "procward", "run", "--detached"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the terminal closes: its job's group goes
        proc.communicate()
    assert proc.returncode == 0, err
    pid = daemon_pid(paths)
    assert out == f"procward is running (pid {pid}, instance default)\n"
    assert os.getpgid(pid) != proc.pid
    assert "pong" in cli("ping", "--no-spawn").out
    r = cli("run", "--detached")
    assert r.code == 1 and f"already running (pid {pid})" in r.err


def test_a_slow_start_is_not_called_a_failure(cli, paths: InstancePaths, load_apps) -> None:
    # Restoring apps may take the daemon a while: here a dependency's ready delay.
    assert cli("up").code == 0
    load_apps("""
        [apps.slow]
        cmd = ["sleep", "1000"]
        ready = { delay = "2s" }
        [apps.after]
        cmd = ["sleep", "1000"]
        depends_on = ["slow"]
    """)
    assert cli("kill").code == 0  # not `down`: what `down` stops waits for `up`
    r = cli("up", env={"PROCWARD_START_TIMEOUT": "0.5"})
    assert r.code == 1
    pid = daemon_pid(paths)
    assert r.err == (
        f"procward: the daemon did not answer within 0.5s; still starting (pid {pid}), "
        f"see {paths.daemon_log}\n"
    )
    wait_for(lambda: cli("ping", "--no-spawn").code == 0, timeout=10, what="the daemon serving")
    assert daemon_pid(paths) == pid


def test_down_on_a_hung_daemon_kills_it_and_its_apps(
    cli, paths: InstancePaths, load_apps: LoadApps
) -> None:
    assert cli("up").code == 0
    with Client.open(paths.socket) as client:
        app = start_sleeper(client, load_apps)
    pid = daemon_pid(paths)
    os.kill(pid, signal.SIGSTOP)  # hung: it will never act on SIGTERM
    try:
        r = cli("down", "--timeout", "1")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert r.code == 1, "it was not a graceful stop"
    assert r.err == (
        f"procward: did not stop within 1s: killed it (pid {pid}) and its apps (1 process group)\n"
    )
    assert wait_exit(pid, 5) and wait_exit(app, 5)
    assert running(paths)[0] is Liveness.NOT_RUNNING


def test_the_daemon_does_not_keep_the_callers_stray_fds(home: str, paths: InstancePaths) -> None:
    # A shell passes its open descriptors to `procward up`, and so on to the daemon.
    read_end, write_end = os.pipe()
    try:
        os.set_inheritable(write_end, True)
        done = subprocess.run(
            [sys.executable, "-m", "procward", "up"],
            pass_fds=(write_end,),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        os.close(write_end)
        write_end = -1
        pipe = f"pipe:[{os.fstat(read_end).st_ino}]"
        fd_dir = f"/proc/{daemon_pid(paths)}/fd"
        assert pipe not in [os.readlink(f"{fd_dir}/{fd}") for fd in os.listdir(fd_dir)]
        readable, _, _ = select.select([read_end], [], [], 5)  # no writer left: EOF
        assert readable and os.read(read_end, 1) == b""
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


@pytest.mark.parametrize("lock_file", ["held", "removed"])
def test_a_failing_second_daemon_leaves_the_live_daemons_files(
    cli, paths: InstancePaths, lock_file: str
) -> None:
    assert cli("up").code == 0
    live = ProcessIdentity.of(daemon_pid(paths))
    assert live is not None
    with open(paths.metadata, "rb") as f:
        written = f.read()
    try:
        if lock_file == "removed":  # a tmp cleaner: the instance looks free for a while
            os.unlink(paths.lock)
        second = subprocess.run(
            [sys.executable, "-m", "procward.daemon"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr or "another process is serving" in second.stderr
        with open(paths.metadata, "rb") as f:
            assert f.read() == written, "the live daemon's daemon.json was touched"
        assert os.path.exists(paths.socket)
    finally:
        assert signal_process(live, signal.SIGTERM, 10)  # whatever the lock file says
