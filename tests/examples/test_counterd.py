"""examples/counterd.py, a third-party daemon on procward.kit, run as real processes.

Each test gets its own ``COUNTERD_HOME`` (short, in /tmp: a Unix socket path
must fit in 107 bytes), set with monkeypatch so that the CLI subprocesses, the
daemons they spawn and the in-process kit calls all agree on the paths. The
fixture's finalizer stops whatever daemon the test left and removes the home.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from procward import kit

COUNTERD = str(Path(__file__).resolve().parents[2] / "examples" / "counterd.py")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` s pass; return its last answer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(0.01)
    return True


def is_counterd(pid: int) -> bool:
    """Is ``pid`` a live counterd daemon? (A zombie's cmdline is empty.)"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return COUNTERD.encode() in f.read()
    except OSError:
        return False


def recorded_pid(paths: kit.InstancePaths) -> int | None:
    try:
        with open(paths.metadata, "rb") as f:
            return int(json.load(f)["pid"])
    except (OSError, ValueError, KeyError):
        return None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, COUNTERD, *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def counterd(*args: str) -> str:
    """Run the counterd CLI; it must succeed. Returns its stdout, stripped."""
    proc = run_cli(*args)
    assert proc.returncode == 0, f"counterd {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


def stop_for_good(paths: kit.InstancePaths) -> None:
    pid = recorded_pid(paths)
    try:
        kit.stop(paths, timeout=10.0)
    finally:
        if pid is not None and is_counterd(pid):  # last resort
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda: not is_counterd(pid), 5.0), f"pid {pid} survived SIGKILL"


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[kit.InstancePaths]:
    home = tempfile.mkdtemp(prefix="cd-", dir="/tmp")
    monkeypatch.setenv("COUNTERD_HOME", home)
    monkeypatch.delenv("COUNTERD_INSTANCE", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    instance = kit.resolve("counterd")
    try:
        yield instance
    finally:
        try:
            stop_for_good(instance)
        finally:
            shutil.rmtree(home, ignore_errors=True)


def test_first_incr_spawns_the_daemon_and_counts(paths: kit.InstancePaths) -> None:
    assert kit.running(paths)[0] is kit.Liveness.NOT_RUNNING
    assert counterd("incr", "hits") == "1"
    liveness, meta = kit.running(paths)
    assert liveness is kit.Liveness.RUNNING
    assert meta is not None and is_counterd(meta.pid)
    assert counterd("incr", "hits") == "2"
    assert counterd("get", "hits") == "2"
    again = kit.running(paths)[1]
    assert again is not None and again.identity == meta.identity  # one daemon served all


def test_counters_survive_stop_and_a_new_spawn(paths: kit.InstancePaths) -> None:
    assert counterd("incr", "hits", "5") == "5"
    assert counterd("incr", "hits") == "6"
    assert counterd("incr", "misses") == "1"
    first = kit.running(paths)[1]
    assert first is not None
    assert counterd("stop") == f"counterd stopped (pid {first.pid})"
    assert kit.running(paths)[0] is kit.Liveness.NOT_RUNNING
    assert not os.path.exists(paths.socket)
    assert not is_counterd(first.pid)
    assert counterd("stop") == "counterd is not running"

    assert counterd("get", "hits") == "6"  # spawns a new daemon, which loads the state
    second = kit.running(paths)[1]
    assert second is not None and second.identity != first.identity
    assert counterd("get", "misses") == "1"
    assert counterd("get", "never") == "0"


def test_socket_is_0600_and_directories_0700(paths: kit.InstancePaths) -> None:
    assert counterd("incr", "hits") == "1"
    st = os.stat(paths.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    for directory in {paths.runtime_dir, paths.state_dir, paths.log_dir}:
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
    assert stat.S_IMODE(os.stat(paths.state).st_mode) == 0o600


def test_in_process_client_roles_and_param_checks(paths: kit.InstancePaths) -> None:
    spawn = [sys.executable, COUNTERD, "run", "--detached"]
    with kit.connect(paths, spawn_argv=spawn) as client:
        assert client.call("ping")["version"] == "1.0"
        assert client.call("incr", name="a", by=41) == 41
        assert client.call("incr", {"name": "a"}) == 42
        with pytest.raises(kit.InvalidParams, match="'by' must be int"):
            client.call("incr", name="a", by="1")
        with pytest.raises(kit.InvalidParams, match="'by' must be int"):
            client.call("incr", name="a", by=True)
        with pytest.raises(kit.InvalidParams, match="missing required parameter name"):
            client.call("get")
        with pytest.raises(kit.InvalidParams, match="unexpected parameter step"):
            client.call("incr", name="a", step=2)
        assert client.call("reset", name="a") == 42
        assert client.call("get", name="a") == 0
        assert client.call("shutdown") == {"success": True}
    pid = recorded_pid(paths)
    assert wait_for(lambda: kit.running(paths)[0] is kit.Liveness.NOT_RUNNING)
    assert pid is None or wait_for(lambda: not is_counterd(pid))


def test_racing_clients_start_one_daemon(paths: kit.InstancePaths) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, COUNTERD, "incr", "hits"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    results = [proc.communicate(timeout=30) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 5, results
    assert sorted(out.strip() for out, _err in results) == ["1", "2", "3", "4", "5"]
    assert counterd("get", "hits") == "5"


def test_a_corrupt_state_file_falls_back_to_the_backup(paths: kit.InstancePaths) -> None:
    assert counterd("incr", "hits", "3") == "3"
    assert counterd("stop").startswith("counterd stopped")
    with open(paths.state, "wb") as f:
        f.write(b'{"hits": 3')  # a torn write the kit's atomic writes never leave
    assert counterd("get", "hits") == "3"
    with open(paths.daemon_log, encoding="utf-8") as f:
        assert "recovered from" in f.read()


def test_an_unusable_state_fails_the_start_with_the_daemons_reason(
    paths: kit.InstancePaths,
) -> None:
    assert counterd("incr", "hits") == "1"
    assert counterd("stop").startswith("counterd stopped")
    for path in (paths.state, paths.state + ".bak"):
        with open(path, "wb") as f:
            f.write(b"not json")
    proc = run_cli("incr", "hits")
    assert proc.returncode == 1
    assert "daemon failed to start: no usable copy" in proc.stderr
    assert kit.running(paths)[0] is kit.Liveness.NOT_RUNNING
    assert not os.path.exists(paths.socket)


def test_run_in_the_foreground_then_sigterm(paths: kit.InstancePaths) -> None:
    proc = subprocess.Popen(
        [sys.executable, COUNTERD, "run"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # daemon.json itself: the lock's holder shows in kit.running() a moment
        # before the file is written (a loaded machine saw that moment).
        assert wait_for(lambda: recorded_pid(paths) is not None or proc.poll() is not None)
        assert recorded_pid(paths) == proc.pid  # no fork without a ready pipe
        assert counterd("incr", "hits") == "1"  # served by it, not by a spawned one
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "serving on" in err and "shutting down (SIGTERM)" in err
    assert kit.running(paths)[0] is kit.Liveness.NOT_RUNNING
