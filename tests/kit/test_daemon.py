"""The kit's Daemon lifecycle, with a sample daemon in real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from procward.kit._client import Client, connect
from procward.kit._control import stop, wait_exit
from procward.kit._errors import Conflict, ShuttingDown, StartFailed
from procward.kit._lock import is_locked
from procward.kit._metadata import Liveness, read_metadata, running
from procward.kit._spawn import start_detached
from procward.kit.testing import wait_for

from .conftest import SAMPLE, Sample


def test_start_reports_ready_with_the_daemons_pid(sample: Sample) -> None:
    pid = sample.start()
    meta = read_metadata(sample.paths)
    assert meta is not None and meta.pid == pid
    assert meta.version == "9.9" and meta.addresses == {"unix": sample.paths.socket}
    assert os.getppid() != pid and _parent_of(pid) != os.getpid(), "the daemon must be detached"


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def test_detached_daemon_is_a_session_member_without_terminal(sample: Sample) -> None:
    pid = sample.start()
    assert os.getsid(pid) != os.getsid(0)
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"


def test_start_failure_text_reaches_the_caller(sample: Sample) -> None:
    with pytest.raises(StartFailed, match="refusing to start: no reason"):
        sample.start("--fail-start", "no reason")
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING
    assert not os.path.exists(sample.paths.socket)


def test_start_warnings_reach_the_starter(sample: Sample) -> None:
    sample.paths.ensure()
    argv = sample.argv("--warn", "port 9 is taken", "--warn", "two\nlines")
    with connect(sample.paths, spawn_argv=argv) as client:
        assert client.start_warnings == ["port 9 is taken", "two lines"]
    with connect(sample.paths, spawn_argv=argv) as client:
        assert client.start_warnings == []  # it was running: nothing to report
    assert "port 9 is taken" in sample.log()


def test_a_slow_start_is_not_called_a_failure(sample: Sample) -> None:
    sample.paths.ensure()
    # A second to take the lock (a loaded machine needs more than 0.2 s to
    # start Python), three to start: the deadline passes while it holds it.
    argv = sample.argv("--slow-start", "3")
    with pytest.raises(StartFailed) as raised:
        connect(sample.paths, spawn_argv=argv, start_timeout=1.0).close()
    pid = wait_for(lambda: read_metadata(sample.paths), what="daemon.json").pid
    assert str(raised.value) == (
        f"the daemon did not answer within 1s; still starting (pid {pid}), "
        f"see {sample.paths.daemon_log}"
    )
    assert wait_for(lambda: _pid_when_serving(sample), what="serving") == pid


def _pid_when_serving(sample: Sample) -> int | None:
    try:
        with Client.open(sample.paths.socket) as client:
            return int(client.call("ping")["pid"])
    except OSError:
        return None


def test_a_program_that_cannot_run(sample: Sample) -> None:
    sample.paths.ensure()
    with pytest.raises(StartFailed, match="cannot run /nonexistent"):
        start_detached(["/nonexistent"], log_path=sample.paths.daemon_log)


def test_a_program_that_exits_without_a_word(sample: Sample) -> None:
    sample.paths.ensure()
    with pytest.raises(StartFailed, match=r"exited before reporting ready \(exit status 3\)"):
        start_detached(["/bin/sh", "-c", "exit 3"], log_path=sample.paths.daemon_log)


def test_stop_escalates_to_sigkill_when_term_is_ignored(sample: Sample) -> None:
    pid = sample.start("--ignore-term")
    started = time.monotonic()
    was_running, meta = stop(sample.paths, timeout=0.5)
    assert was_running and meta is not None and meta.pid == pid
    assert wait_exit(pid, 0)
    assert time.monotonic() - started < 5
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING  # stale files cleaned


def test_shutdown_has_a_deadline_even_if_on_stop_hangs(sample: Sample) -> None:
    pid = sample.start("--slow-stop", "--shutdown-timeout", "1")
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid, 10)
    assert time.monotonic() - started < 5
    assert "stopping took longer than" in sample.log()
    assert not os.path.exists(sample.paths.socket)


def test_in_flight_requests_finish_before_shutdown(sample: Sample) -> None:
    pid = sample.start()
    client = sample.client()
    client._send("sleep", {"seconds": 0.3})
    wait_for(lambda: _in_flight(sample) == 1, what="the request to be in flight")
    os.kill(pid, signal.SIGTERM)
    reply = client._receive()
    assert reply.get("result") == 0.3
    assert wait_exit(pid, 10)


def _in_flight(sample: Sample) -> int:
    with Client.open(sample.paths.socket) as c:
        return int(c.call("in_flight"))


def test_streams_do_not_hold_up_a_shutdown(sample: Sample) -> None:
    pid = sample.start()
    follower = sample.client()
    calls = follower.stream("forever")
    assert next(calls) == ("started", {})
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    with pytest.raises(ShuttingDown, match="forever was cancelled"):
        next(calls)
    assert wait_exit(pid, 5)
    assert time.monotonic() - started < 1.5  # not the 2 s grace of requests that end


def test_idle_shutdown(sample: Sample) -> None:
    pid = sample.start("--idle", "0.3")
    assert wait_exit(pid, 10)
    assert "idle for" in sample.log()
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING


def test_idle_shutdown_waits_while_clients_are_connected(sample: Sample) -> None:
    pid = sample.start("--idle", "0.2")
    client = sample.client()
    client.call("ping")
    assert not wait_exit(pid, 0.6)
    client.close()
    assert wait_exit(pid, 10)


def test_sighup_calls_the_reload_hook(sample: Sample) -> None:
    pid = sample.start()
    client = sample.client()
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: client.call("reloaded") == 1, what="on_reload")


def test_sigusr1_reopens_the_log(sample: Sample) -> None:
    pid = sample.start()
    moved = sample.paths.daemon_log + ".moved"
    os.rename(sample.paths.daemon_log, moved)
    os.kill(pid, signal.SIGUSR1)
    wait_for(lambda: os.path.exists(sample.paths.daemon_log), what="a new log file")
    wait_for(lambda: "reopened" in sample.log(), what="the reopen message")


def test_a_removed_socket_is_bound_again(sample: Sample) -> None:
    sample.start("--vitals", "0.05")
    before = sample.client()
    os.unlink(sample.paths.socket)
    # Logged after the old listener was closed: closing it must not take the new file.
    wait_for(lambda: "listening on it again" in sample.log(), what="the log line")
    assert sample.client().call("echo", value=1) == 1  # a new client gets in
    assert before.call("echo", value=2) == 2  # and the one from before carries on
    assert os.stat(sample.paths.socket).st_mode & 0o777 == 0o600


def test_a_removed_instance_directory_is_made_again(sample: Sample) -> None:
    # A tmp cleaner emptying /tmp/<prefix>-<uid>, or an `rm -rf` of the home:
    # without its lock file, the instance would look free to a second daemon.
    pid = sample.start("--vitals", "0.05")
    for directory in {sample.paths.runtime_dir, sample.paths.state_dir}:
        subprocess.run(["rm", "-rf", directory], check=True)
    wait_for(lambda: is_locked(sample.paths.lock), what="the lock taken again")
    wait_for(lambda: os.path.exists(sample.paths.socket), what="the socket again")
    wait_for(lambda: read_metadata(sample.paths) is not None, what="daemon.json again")
    assert sample.client().call("echo", value=3) == 3
    with pytest.raises(StartFailed, match=f"already running \\(pid {pid}\\)"):
        sample.start()
    wait_for(lambda: "lock file" in sample.log() and "locked a new one" in sample.log())


def test_a_forged_daemon_json_is_seen_through_and_written_again(sample: Sample) -> None:
    pid = sample.start("--vitals", "0.05")
    with open(sample.paths.metadata, "rb") as f:
        written = f.read()
    stranger = subprocess.Popen(["sleep", "60"])  # a live process that is not the daemon
    try:
        forged = json.loads(written)
        forged["pid"] = stranger.pid
        with open(sample.paths.metadata, "w") as f:  # in place, as an editor might
            json.dump(forged, f)
        liveness, meta = running(sample.paths)  # the lock's holder, not the file, says who
        assert liveness is Liveness.RUNNING and meta is not None and meta.pid == pid
        assert meta.identity.matches_live()

        def healed() -> bool:
            with open(sample.paths.metadata, "rb") as f:
                return f.read() == written

        wait_for(healed, what="daemon.json written again by the daemon")
        wait_for(lambda: "had been changed: written again" in sample.log(), what="the log line")
    finally:
        stranger.kill()
        stranger.wait()


def test_upgrade_replaces_the_program_in_place(sample: Sample) -> None:
    pid = sample.start()
    os.kill(pid, signal.SIGHUP)  # some state for the next program to take over
    first = sample.client()
    wait_for(lambda: first.call("reloaded") == 1, what="on_reload")
    before = first.call("ping")
    fds_before = len(os.listdir(f"/proc/{pid}/fd"))
    assert first.call("upgrade") == {"upgrading": True, "pid": pid}

    def new_program() -> Client | None:
        # Connecting is never refused: the socket is handed over, not bound again.
        # A connection the old program accepted in its last moments is closed.
        client = Client.open(sample.paths.socket)
        sample.clients.append(client)
        try:
            handed = client.call("handed")
        except ConnectionError:
            return None
        return client if handed is not None else None

    again = wait_for(new_program, what="the new program to serve")
    assert again.call("handed") == {"reloads": 1}
    after = again.call("ping")
    assert after["pid"] == pid and after["uptime"] < before["uptime"] + 1
    assert is_locked(sample.paths.lock) and read_metadata(sample.paths).pid == pid
    with pytest.raises(StartFailed, match="already running"):
        sample.start()
    wait_for(lambda: "upgrading in place" in sample.log(), what="the log line")
    assert not os.path.exists(os.path.join(sample.paths.state_dir, "handover.json"))
    # Nothing leaked across the exec: one client then, one client now.
    assert len(os.listdir(f"/proc/{pid}/fd")) == fds_before
    stop(sample.paths, timeout=5)
    assert wait_exit(pid, 5)
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING


@pytest.mark.parametrize("how", ["version", "field", "garbage"])
def test_a_hand_over_the_new_program_cannot_read_makes_it_start_afresh(
    sample: Sample, how: str
) -> None:
    # Another version's hand-over, or a damaged one: nothing of it can be trusted. The
    # new program drops what it inherited (the lock with it) and starts as after a
    # crash of the old one: one daemon, holding the lock, serving on the same socket.
    pid = sample.start("--mangle-handover", how)
    assert sample.client().call("upgrade")["upgrading"]
    asked = time.time()
    wait_for(lambda: "starting afresh" in sample.log(), what="the new program's verdict")

    def fresh() -> bool:
        try:
            started = time.time() - sample.client().call("ping")["uptime"]
            return started > asked - 0.01  # the new program, not the old one
        except (ConnectionError, OSError, ShuttingDown):  # the old one, on its way out
            return False

    wait_for(fresh, what="the new program to serve")
    again = sample.client()
    assert again.call("ping")["pid"] == pid and again.call("handed") is None
    assert is_locked(sample.paths.lock) and read_metadata(sample.paths).pid == pid
    with pytest.raises(StartFailed, match="already running"):
        sample.start()
    assert not os.path.exists(os.path.join(sample.paths.state_dir, "handover.json"))
    stop(sample.paths, timeout=5)
    assert wait_exit(pid, 5)
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_stop_during_an_upgrade_is_not_lost(sample: Sample, delay: float) -> None:
    # SIGTERM while handing over, while exec'ing (no handler yet) or just after.
    pid = sample.start()
    assert sample.client().call("upgrade")["upgrading"]
    time.sleep(delay)  # the point of the test: land the signal in each window
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid, 10), sample.log()
    assert running(sample.paths)[0] is Liveness.NOT_RUNNING  # a graceful stop: files removed


def test_an_upgrade_to_a_program_that_cannot_start_is_refused(sample: Sample) -> None:
    pid = sample.start("--broken-upgrade")
    client = sample.client()
    with pytest.raises(Conflict, match="the new program does not start: SyntaxError"):
        client.call("upgrade")
    assert client.call("ping")["pid"] == pid  # serving on, the same program


def test_detached_logs_are_json_lines(sample: Sample) -> None:
    sample.start()
    lines = [json.loads(line) for line in sample.log().splitlines() if line.startswith("{")]
    assert any(entry["msg"].startswith("serving on") for entry in lines)
    assert all({"time", "level", "logger", "msg"} <= entry.keys() for entry in lines)


def test_failures_are_logged_with_traceback(sample: Sample) -> None:
    sample.start()
    with pytest.raises(Exception, match="boom failed"):
        sample.client().call("boom")
    entry = next(
        json.loads(line) for line in sample.log().splitlines() if "method boom failed" in line
    )
    assert "kaboom" in entry["exc"]


def test_sd_notify_ready_and_stopping(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> None:
    notify_path = os.path.join(os.path.dirname(sample.paths.state_dir), "notify")
    os.makedirs(os.path.dirname(notify_path), exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(notify_path)
        listener.settimeout(10)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path}
        proc = subprocess.Popen([sys.executable, SAMPLE], env=env, stderr=subprocess.DEVNULL)
        try:
            ready = listener.recv(4096).decode()
            assert "READY=1" in ready and f"MAINPID={proc.pid}" in ready
            proc.send_signal(signal.SIGTERM)
            assert "STOPPING=1" in listener.recv(4096).decode()
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_socket_activation(sample: Sample) -> None:
    sample.paths.ensure()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sample.paths.socket)
    listener.listen()
    fd = listener.fileno()
    # What systemd does between fork and exec: the socket becomes fd 3 and
    # LISTEN_PID names the process that will exec the daemon.
    shim = (
        "import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd) if fd != 3 else None;"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='rpc');"
        "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", shim, str(fd), SAMPLE],
        pass_fds=(fd,),
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()  # systemd keeps its copy; here the daemon's is the only one
    try:
        wait_for(lambda: read_metadata(sample.paths), what="metadata")
        with Client.open(sample.paths.socket) as client:
            assert client.call("echo", value="activated") == "activated"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    assert "passed by the service manager (rpc)" in err
    # The socket belongs to the service manager: the daemon leaves it in place.
    assert os.path.exists(sample.paths.socket)
    assert not os.path.exists(sample.paths.metadata)
    assert not is_locked(sample.paths.lock)


def test_ready_pipe_is_closed_after_the_handshake() -> None:
    from procward.kit._spawn import ReadyPipe

    read_end, write_end = os.pipe()
    pipe = ReadyPipe(write_end)
    assert not os.get_inheritable(write_end)
    pipe.ready(1234)
    assert pipe.fd is None
    with os.fdopen(read_end, "rb") as reader:
        assert reader.read() == b"ready 1234\n"  # EOF: no write end is left open


def test_warnings_follow_ready_so_a_one_line_reader_still_starts() -> None:
    from procward.kit._spawn import ReadyPipe

    read_end, write_end = os.pipe()
    ReadyPipe(write_end).ready(1234, ["no tcp:\nport taken"])
    with os.fdopen(read_end, "rb") as reader:
        assert reader.read() == b"ready 1234\nwarn no tcp: port taken\n"


def test_http_names_the_daemon_as_its_realm(sample: Sample) -> None:
    import http.client

    sample.start("--http")
    host, port = sample.client().call("listening")["http"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/ping", headers={"Authorization": "Bearer not-a-token"})
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    assert reply.status == 401 and reply.getheader("www-authenticate") == 'Bearer realm="sample"'
