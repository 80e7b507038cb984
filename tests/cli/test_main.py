"""The CLI's entry point: how a command ends when its reader has gone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from procward.kit._client import Client

from ..daemon.conftest import LoadApps, wait_state


def into_closed_pipe(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run ``procward ARGS`` with stdout on a pipe whose reader is gone (``| head -0``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "procward", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_info_quietly(home: str) -> None:
    done = into_closed_pipe("info")
    assert (done.returncode, done.stderr) == (141, "")  # 128 + SIGPIPE, as `cat` ends


@pytest.mark.parametrize(
    "args",
    [["status"], ["uptime"], ["logs", "ticker"], ["logs", "-f", "ticker"], ["events", "-f"]],
)
def test_a_closed_stdout_ends_a_command_quietly(
    daemon: Client, load_apps: LoadApps, args: list[str]
) -> None:
    load_apps("""
        [apps.ticker]
        cmd = ["sh", "-c", "while :; do echo tick; sleep 0.05; done"]
        min_start = "0s"
    """)
    wait_state(daemon, "ticker", "running")
    done = into_closed_pipe(*args)
    assert (done.returncode, done.stderr) == (141, "")
