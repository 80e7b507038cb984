"""Logs a viewer reads are bounded, and logs are never written through a symlink.

Issue 11, items 12 and 14: one ``getLogs(lines=10**9)`` held the loop for
seconds; a log directory planted as a symlink was reported unusable and
written through all the same.
"""

from __future__ import annotations

import json
import os
import sys

from procward.kit.client import Client
from procward.kit.paths import InstancePaths
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
