"""Logs a viewer reads are bounded, and logs are never written through a symlink.

Issue 11, items 12 and 14: one ``getLogs(lines=10**9)`` held the loop for
seconds; a log directory planted as a symlink was reported unusable and
written through all the same.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from .conftest import LoadApps, wait_state

LINES_SCRIPT = (
    "import sys; sys.stdout.writelines(f'{i} ' + 'x' * {width} + '\\n' for i in range({n}))"
)


def lines_app(load_apps: LoadApps, daemon: Client, n: int, width: int) -> None:
    script = LINES_SCRIPT.replace("{n}", str(n)).replace("{width}", str(width))
    load_apps(f"""
        [apps.lines]
        cmd = {json.dumps([sys.executable, "-c", script])}
        restart = "never"
        min_start = "0s"
        log_max_size = "100MB"
    """)
    wait_state(daemon, "lines", "exited", timeout=30)


def out_of(reply: list[dict]) -> dict:
    [entry] = [e for e in reply if e["stream"] == "out"]
    return entry


def test_a_huge_line_count_is_capped_and_the_reply_says_so(
    daemon: Client, load_apps: LoadApps
) -> None:
    lines_app(load_apps, daemon, n=30_000, width=10)
    wait_for(
        lambda: (
            out_of(daemon.call("getLogs", name="lines", lines=5))["lines"][-1]
            == "29999 " + "x" * 10
        )
    )
    entry = out_of(daemon.call("getLogs", name="lines", lines=10**9))
    assert len(entry["lines"]) == 10_000
    assert entry["lines"][-1].startswith("29999 ")
    assert "at most 10000 lines" in entry["truncated"]
    small = out_of(daemon.call("getLogs", name="lines", lines=10))
    assert len(small["lines"]) == 10 and "truncated" not in small


def test_a_reply_holds_at_most_4_mib(daemon: Client, load_apps: LoadApps) -> None:
    lines_app(load_apps, daemon, n=6_000, width=1_000)  # about 6 MB
    wait_for(
        lambda: (
            out_of(daemon.call("getLogs", name="lines", lines=1))["lines"] == ["5999 " + "x" * 1000]
        )
    )
    entry = out_of(daemon.call("getLogs", name="lines", lines=10_000))
    size = sum(len(line) + 1 for line in entry["lines"])
    assert 3 << 20 < size <= 4 << 20
    assert entry["lines"][-1].startswith("5999 ")
    assert "truncated" in entry


def daemon_log(paths: InstancePaths) -> str:
    with open(paths.daemon_log) as f:
        return f.read()


def test_a_log_dir_planted_as_a_symlink_is_refused_and_not_written_through(
    daemon: Client, paths: InstancePaths, tmp_path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.makedirs(paths.log_dir, exist_ok=True)
    os.symlink(target, os.path.join(paths.log_dir, "planted"))
    daemon.call(
        "addApp", name="planted", spec={"cmd": ["echo", "through the link"], "restart": "never"}
    )
    wait_state(daemon, "planted", "exited")
    wait_for(lambda: "is a symlink" in daemon_log(paths), what="the refusal in the daemon's log")
    assert os.listdir(target) == []


def test_a_log_file_planted_as_a_symlink_is_refused_and_not_written_through(
    daemon: Client, paths: InstancePaths, tmp_path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    app_dir = os.path.join(paths.log_dir, "planted")
    os.makedirs(app_dir, mode=0o700)
    os.symlink(victim, os.path.join(app_dir, "0.out"))
    daemon.call(
        "addApp", name="planted", spec={"cmd": ["echo", "through the link"], "restart": "never"}
    )
    wait_state(daemon, "planted", "exited")
    wait_for(lambda: "is a symlink" in daemon_log(paths), what="the refusal in the daemon's log")
    assert victim.read_text() == "untouched\n"
    # Nor is it read through: the reply says why, the victim's text is not in it.
    out = out_of(daemon.call("getLogs", name="planted"))
    assert out["lines"] == [] and "cannot read" in out["note"]


FLOOD_200MB = (
    "import sys\nopen(sys.argv[1]).read()\nline = b'y' * 100 + b'\\n'\n"
    "for _ in range(200): sys.stdout.buffer.write(line * 10000)"
)


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(ln for ln in status if ln.startswith("VmHWM:")).split()[1])


def stalled_follower(paths: InstancePaths, app: str) -> socket.socket:
    """A followLogs connection that reads its first notification, then nothing more."""
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(paths.socket)
    request = {"jsonrpc": "2.0", "id": 1, "method": "followLogs", "params": {"name": app}}
    conn.sendall(json.dumps(request).encode() + b"\n")
    conn.settimeout(10)
    first = b""
    while not first.endswith(b"\n"):
        first += conn.recv(1)
    assert b'"following"' in first, first
    return conn


def test_followers_that_do_not_read_cost_the_daemon_little(
    daemon: Client, load_apps: LoadApps, paths: InstancePaths, tmp_path
) -> None:
    """Measured before: 300 MiB for 8; each may now hold 2 MiB (and its socket's buffers)."""
    gate = str(tmp_path / "gate")
    os.mkfifo(gate)
    pid = daemon.call("ping")["pid"]
    load_apps(f"""
        [apps.flood]
        cmd = {json.dumps([sys.executable, "-c", FLOOD_200MB, gate])}
        restart = "never"
        min_start = "0s"
        log_max_size = "10MB"
        log_backups = 1
    """)
    wait_state(daemon, "flood", "running")
    stalled = [stalled_follower(paths, "flood") for _ in range(8)]
    try:
        before = peak_rss_kib(pid)
        with open(gate, "w"):
            pass  # let it write its 200 MB
        wait_state(daemon, "flood", "exited", timeout=60)
        grown = (peak_rss_kib(pid) - before) // 1024
        assert grown < 48, f"the daemon's peak RSS grew by {grown} MiB"
    finally:
        for conn in stalled:
            conn.close()
