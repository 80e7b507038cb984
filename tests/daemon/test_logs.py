"""Capturing, rotating, reading and following real output through the daemon."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from .conftest import LoadApps, pid_of, state_of, wait_state

COUNT_SCRIPT = "import sys; sys.stdout.writelines(f'{i}\\n' for i in range(1000000))"
FLOOD_SCRIPT = "import sys\nwhile True: sys.stdout.write('y' * 100 + '\\n')"


def log_files(paths: InstancePaths, app: str, stream: str) -> list[str]:
    """The log and its backups, oldest first."""
    base = os.path.join(paths.log_dir, app, f"0.{stream}")
    try:
        names = os.listdir(os.path.dirname(base))
    except FileNotFoundError:  # made with the app's first log file
        names = []
    backups = sorted(
        (int(n.rsplit(".", 1)[1]) for n in names if n.startswith(f"0.{stream}.")),
        reverse=True,
    )
    return [f"{base}.{n}" for n in backups] + [base]


def read_lines(files: list[str]) -> list[bytes]:
    out: list[bytes] = []
    for name in files:
        with open(name, "rb") as f:
            content = f.read()
        assert not content or content.endswith(b"\n"), f"{name} ends inside a line"
        out.extend(content.splitlines())
    return out


def test_a_million_lines_arrive_once_in_order_across_rotations(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps(f"""
        [apps.counter]
        cmd = {json.dumps([sys.executable, "-c", COUNT_SCRIPT])}
        restart = "never"
        min_start = "0s"
        log_max_size = "1MB"
        log_backups = 20
    """)
    wait_state(daemon, "counter", "exited", timeout=60)
    files = log_files(paths, "counter", "out")
    wait_for(lambda: sum(os.path.getsize(f) for f in log_files(paths, "counter", "out")) >= 6888890)
    files = log_files(paths, "counter", "out")
    assert len(files) >= 6, "rotated several times"
    lines = read_lines(files)
    assert lines == [b"%d" % i for i in range(1000000)]


def test_stdout_and_stderr_go_to_their_own_files_in_order(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.both]
        cmd = ["sh", "-c", "for i in 1 2 3 4 5; do echo out$$i; echo err$$i >&2; done"]
        restart = "never"
        min_start = "0s"
    """)
    wait_state(daemon, "both", "exited")
    assert read_lines(log_files(paths, "both", "out")) == [b"out%d" % i for i in range(1, 6)]
    assert read_lines(log_files(paths, "both", "err")) == [b"err%d" % i for i in range(1, 6)]
    logs = daemon.call("getLogs", name="both", lines=2)
    assert {(e["stream"], tuple(e["lines"])) for e in logs} == {
        ("out", ("out4", "out5")),
        ("err", ("err4", "err5")),
    }


def test_merged_logs_keep_the_order_of_writes(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.merged]
        cmd = ["sh", "-c", "echo one; echo two >&2; echo three"]
        restart = "never"
        merge_logs = true
        min_start = "0s"
    """)
    wait_state(daemon, "merged", "exited")
    assert read_lines(log_files(paths, "merged", "log")) == [b"one", b"two", b"three"]


def test_a_megabyte_line_without_newline_is_captured(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps(f"""
        [apps.big]
        cmd = ["{sys.executable}", "-c", "import sys; sys.stdout.write('x' * 1048576)"]
        restart = "never"
        min_start = "0s"
    """)
    wait_state(daemon, "big", "exited")
    wait_for(lambda: os.path.getsize(log_files(paths, "big", "out")[-1]) >= 1048576)
    with open(log_files(paths, "big", "out")[-1], "rb") as f:
        content = f.read()
    assert content.replace(b"\n", b"") == b"x" * 1048576


def test_follow_sees_new_lines_within_100_ms(
    daemon: Client, home: str, load_apps: LoadApps, paths: InstancePaths
) -> None:
    fifo = os.path.join(home, "say")
    os.mkfifo(fifo)
    load_apps(f"""
        [apps.echo]
        # Reopened after each EOF: a read that meets EOF must not end the app.
        cmd = ["sh", "-c", "while true; do while read line; do echo $$line; done < {fifo}; done"]
        min_start = "0s"
    """)
    with Client.open(paths.socket) as follower:
        stream = follower.stream("followLogs", name="echo")
        method, params = next(stream)
        assert method == "following"
        latencies = []
        for n in range(5):
            with open(fifo, "w") as f:
                start = time.monotonic()
                f.write(f"hello {n}\n")
            method, params = next(stream)
            latencies.append(time.monotonic() - start)
            assert method == "log" and params["data"] == f"hello {n}\n"
        assert max(latencies) < 0.1, latencies


# A line every ~0.3 ms: a window of a millisecond between a tail and a follow loses
# or doubles a few.
TICKER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print(i, flush=True)\n"
    "    time.sleep(0.0003)\n"
)


def contiguous(numbers: list[int]) -> None:
    assert numbers, "no line at all"
    gaps = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
    assert not gaps, f"lines lost or shown twice at {gaps[:5]} of {len(numbers)}"


def load_ticker(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(f"""
        [apps.tick]
        cmd = {json.dumps([sys.executable, "-u", "-c", TICKER])}
        min_start = "0s"
    """)
    wait_state(daemon, "tick", "running")
    wait_for(lambda: len(daemon.call("getLogs", name="tick", lines=60)[0]["lines"]) >= 50)


def test_a_follow_that_starts_with_a_tail_loses_and_doubles_no_line(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_ticker(daemon, load_apps)
    for _ in range(5):
        with Client.open(paths.socket) as follower:
            numbers: list[int] = []
            partial = ""
            tail = follower.stream("followLogs", name="tick", stream="out", lines=20)
            for method, params in tail:
                if method == "tail":
                    (entry,) = params
                    numbers += [int(line) for line in entry["lines"]]
                    if entry.get("open_line"):
                        partial = str(numbers.pop())
                    assert 0 < len(numbers) <= 20
                elif method == "log":
                    *whole, partial = (partial + params["data"]).split("\n")
                    numbers += [int(line) for line in whole]
                    if len(numbers) >= 300:
                        break
            contiguous(numbers)


def test_logs_follow_in_the_shell_loses_and_doubles_no_line(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_ticker(daemon, load_apps)
    for _ in range(3):
        follower = subprocess.Popen(
            [sys.executable, "-m", "procward", "logs", "-f", "-n", "20", "--out", "tick"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert follower.stdout is not None
            lines = [follower.stdout.readline() for _ in range(300)]
        finally:
            follower.kill()
            follower.communicate()
        contiguous([int(line.rsplit("| ", 1)[1]) for line in lines])


def test_a_stalled_follower_does_not_stall_the_daemon(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps(f"""
        [apps.flood]
        cmd = {json.dumps([sys.executable, "-c", FLOOD_SCRIPT])}
        min_start = "0s"
        log_max_size = "1MB"
        log_backups = 1
    """)
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(paths.socket)
    try:
        stalled.sendall(
            b'{"jsonrpc":"2.0","id":1,"method":"followLogs","params":{"name":"flood"}}\n'
        )
        deadline = time.monotonic() + 3
        worst = 0.0
        while time.monotonic() < deadline:
            start = time.monotonic()
            daemon.call("getApp", name="flood")
            worst = max(worst, time.monotonic() - start)
        # A stall would be seconds (the follower never reads); 0.5 s leaves room
        # for a machine busy with other work.
        assert worst < 0.5, f"an RPC took {worst * 1000:.0f} ms"
        pid = daemon.call("ping")["pid"]
        with open(f"/proc/{pid}/status") as status:
            rss_kib = int(next(ln for ln in status if ln.startswith("VmRSS:")).split()[1])
        assert rss_kib < 400 * 1024, "the daemon buffered without bound"
    finally:
        stalled.close()
    daemon.call("stopApp", name="flood")


def test_an_unusable_log_dir_is_one_clear_error_and_the_app_runs(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    os.makedirs(paths.log_dir, exist_ok=True)
    with open(os.path.join(paths.log_dir, "noisy"), "w") as f:
        f.write("a file where the app's log directory should be")
    load_apps("""
        [apps.noisy]
        cmd = ["sh", "-c", "while true; do echo noise; sleep 0.01; done"]
        min_start = "0s"
    """)
    wait_state(daemon, "noisy", "running")
    wait_for(lambda: "cannot write its log" in daemon_log(paths), what="the error")
    # Let it write a few hundred more lines: still one error.
    first = pid_of(daemon, "noisy")
    wait_for(lambda: daemon_log(paths).count("noise") == 0 and _ran_a_while(first), timeout=10)
    errors = [json.loads(line) for line in daemon_log(paths).splitlines() if "cannot write" in line]
    assert len(errors) == 1, errors
    assert "noisy" in errors[0]["msg"]
    assert state_of(daemon, "noisy") == "running"


def daemon_log(paths: InstancePaths) -> str:
    with open(paths.daemon_log) as f:
        return f.read()


def _ran_a_while(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK") > 0.5


def test_flush_empties_the_logs(
    cli: Any, daemon: Client, load_apps: LoadApps, paths: InstancePaths
) -> None:
    load_apps("""
        [apps.chatty]
        cmd = ["sh", "-c", "echo before; exec sleep 1000"]
        min_start = "0s"
    """)
    wait_for(lambda: os.path.exists(log_files(paths, "chatty", "out")[-1]))
    wait_for(lambda: os.path.getsize(log_files(paths, "chatty", "out")[-1]) > 0)
    r = cli("flush", "chatty")
    assert r.code == 0 and "emptied 2 log files" in r.out
    assert os.path.getsize(log_files(paths, "chatty", "out")[-1]) == 0


def test_since_needs_and_uses_timestamps(cli: Any, daemon: Client, load_apps: LoadApps) -> None:
    load_apps("""
        [apps.timed]
        cmd = ["sh", "-c", "echo early; sleep 1000"]
        log_time = true
        min_start = "0s"

        [apps.plain]
        cmd = ["sh", "-c", "echo early; sleep 1000"]
        min_start = "0s"
    """)
    wait_for(lambda: daemon.call("getLogs", name="timed")[0]["lines"], what="a line")
    assert cli("logs", "timed", "--since", "1h").out.strip().endswith("early")
    assert cli("logs", "timed", "--since", "0s").out.strip() == ""
    r = cli("logs", "plain", "--since", "1h")
    assert r.code == 1 and "set log_time = true" in r.err


def test_reopen_follows_an_external_logrotate(
    cli: Any, daemon: Client, home: str, load_apps: LoadApps, paths: InstancePaths
) -> None:
    fifo = os.path.join(home, "say")
    os.mkfifo(fifo)
    load_apps(f"""
        [apps.echo]
        # Reopened after each EOF: a read that meets EOF must not end the app.
        cmd = ["sh", "-c", "while true; do while read line; do echo $$line; done < {fifo}; done"]
        min_start = "0s"
    """)
    current = log_files(paths, "echo", "out")[-1]

    def say(text: str) -> None:
        with open(fifo, "w") as f:
            f.write(text + "\n")

    say("before")
    wait_for(lambda: os.path.exists(current) and os.path.getsize(current) > 0)
    os.rename(current, current + ".moved")  # what logrotate does
    assert cli("logs", "--reopen").code == 0
    say("after")
    wait_for(lambda: os.path.exists(current) and os.path.getsize(current) > 0)
    with open(current) as f:
        assert f.read() == "after\n"
    with open(current + ".moved") as f:
        assert f.read() == "before\n"


def test_since_for_every_app_skips_those_without_times_with_a_note(
    cli: Any, daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.timed]
        cmd = ["sh", "-c", "echo early; sleep 1000"]
        log_time = true
        min_start = "0s"

        [apps.plain]
        cmd = ["sh", "-c", "echo early; sleep 1000"]
        min_start = "0s"
    """)
    wait_for(lambda: daemon.call("getLogs", name="timed")[0]["lines"], what="a line")
    r = cli("logs", "--since", "1h")
    assert r.code == 0, r.err
    assert [line.split(" ", 1)[0] for line in r.out.splitlines()] == ["timed:0"]
    assert r.out.rstrip().endswith("early")
    assert r.err == "plain: skipped, its lines carry no time (set log_time = true)\n"
    skipped = [e for e in daemon.call("getLogs", since="1h") if e["app"] == "plain"]
    assert [(e["stream"], e["lines"], "no time" in e["note"]) for e in skipped] == [
        ("out", [], True),
        ("err", [], True),
    ]


def test_json_of_a_json_app_is_each_of_its_objects_once(
    cli: Any, daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.jsony]
        cmd = ["sh", "-c", "echo hello; echo oops >&2; exec sleep 1000"]
        log_format = "json"
        min_start = "0s"
    """)
    wait_for(lambda: all(e["lines"] for e in daemon.call("getLogs", name="jsony")), what="lines")
    r = cli("logs", "jsony", "--json")
    assert r.code == 0, r.err
    records = [json.loads(line) for line in r.out.splitlines()]
    assert [(x["app"], x["instance"], x["stream"], x["line"]) for x in records] == [
        ("jsony", 0, "out", "hello"),
        ("jsony", 0, "err", "oops"),
    ]
    assert all(isinstance(x["time"], float) for x in records)


def test_merged_logs_do_not_pretend_to_know_the_stream(
    cli: Any, daemon: Client, load_apps: LoadApps
) -> None:
    # One pipe carries both: which stream a line came from is not known.
    load_apps("""
        [apps.merged]
        cmd = ["sh", "-c", "echo one; echo two >&2; exec sleep 1000"]
        merge_logs = true
        min_start = "0s"
    """)
    wait_for(lambda: len(daemon.call("getLogs", name="merged")[0]["lines"]) == 2, what="lines")
    r = cli("logs", "merged", "--err")
    assert (r.code, r.out) == (0, "one\ntwo\n")
    assert r.err == ("merged: stdout and stderr are merged (merge_logs = true): both are shown\n")
    r = cli("logs", "merged", "--json")
    assert [json.loads(line)["stream"] for line in r.out.splitlines()] == ["log", "log"]
    assert r.err == ""


def test_the_lines_of_several_instances_say_whose_they_are(
    cli: Any, daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.web]
        cmd = ["sh", "-c", "echo I am $PROCWARD_INDEX; exec sleep 1000"]
        instances = 2
        min_start = "0s"
    """)
    wait_for(
        lambda: all(e["lines"] for e in daemon.call("getLogs", name="web", stream="out")),
        what="both instances' lines",
    )
    r = cli("logs", "web", "-n", "2", "--out")
    assert r.out.splitlines() == ["web:0 | I am 0", "web:1 | I am 1"]


def test_an_apps_log_directory_is_made_with_its_first_line(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, home: str
) -> None:
    """Not at the spawn: a cold start of apps that print nothing makes no directories."""
    go = os.path.join(home, "go")
    load_apps(f"""
        [apps.quiet]
        cmd = ["sh", "-c", "while [ ! -e {go} ]; do sleep 0.05; done; echo first; exec sleep 60"]
        min_start = "0s"
    """)
    wait_state(daemon, "quiet", "running")
    directory = os.path.join(paths.log_dir, "quiet")
    assert not os.path.exists(directory)
    open(go, "w").close()
    first = os.path.join(directory, "0.out")
    wait_for(lambda: os.path.exists(first) and os.path.getsize(first) > 0, what="the first line")
    assert os.stat(directory).st_mode & 0o777 == 0o700
    with open(first) as f:
        assert f.read() == "first\n"
