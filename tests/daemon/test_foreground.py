"""``procward run -c FILE`` in the foreground: the console when nobody reads it, the options.

(As PID 1 of a container: ``test_container.py``.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from tests.conftest import Result
from tests.daemon.conftest import wait_state


@pytest.fixture
def foreground(home: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``foreground(toml, *options)``: ``procward run -c`` with stdout a pipe nobody reads yet."""
    started: list[subprocess.Popen[bytes]] = []

    def start(toml: str, *options: str) -> subprocess.Popen[bytes]:
        path = os.path.join(home, "procward.toml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(toml))
        err = open(os.path.join(home, "stderr"), "wb")  # noqa: SIM115 - the child's, closed below
        argv = [sys.executable, "-m", "procward", "run", "-c", path, *options]
        started.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err))
        err.close()
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def ping_time(paths: InstancePaths) -> float:
    started = time.monotonic()
    with Client.open(paths.socket) as client:
        client.call("ping")
    return time.monotonic() - started


def test_a_stalled_stdout_costs_dropped_lines_counted_never_a_stalled_daemon(
    foreground: Callable[..., subprocess.Popen[bytes]], paths: InstancePaths, home: str
) -> None:
    program, count = os.path.join(home, "chatty.py"), os.path.join(home, "count")
    with open(program, "w") as f:
        f.write(
            "i = 0\n"
            "while True:\n"
            "    print(i, 'x' * 100, flush=i % 100 == 0)\n"
            "    if i % 10000 == 0:\n"
            f"        open({count!r}, 'w').write(str(i))\n"
            "    i += 1\n"
        )
    proc = foreground(
        f"""
        [apps.chatty]
        cmd = ["{sys.executable}", "{program}"]
        """,
        "--logs",
        "--no-log-files",
    )
    wait_for(lambda: os.path.exists(paths.socket), 20, what="the daemon serving")
    wait_for(lambda: ping_time(paths) < 5, 20, what="the daemon answering")

    def written() -> int:
        try:
            with open(count) as f:
                return int(f.read() or 0)
        except FileNotFoundError:
            return 0

    # Nobody reads stdout: its pipe and the console's buffer (8 MiB) fill, then lines drop;
    # the app runs on (30 MB written, its pipe still drained) and the daemon answers.
    deadline = time.monotonic() + 60
    while written() < 300_000:
        assert time.monotonic() < deadline, f"the app blocked at line {written()}"
        assert ping_time(paths) < 2.0
    with Client.open(paths.socket) as client:
        wait_state(client, "chatty", "running")
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + 30
    while b"dropped: the output was not read fast enough\n" not in seen:
        assert time.monotonic() < deadline, seen[-300:]
        seen += os.read(fd, 1 << 20)
    before, _, after = seen.partition(b"procward | ")
    assert re.fullmatch(rb"(chatty\.0 \| \d+ x{100}\n)+", before), before[-300:]
    numbers = [int(line.split()[2]) for line in before.splitlines()]
    assert numbers == list(range(len(numbers)))  # up to the gap: every line, whole, in order
    assert re.match(rb"\d+ lines dropped: the output was not read fast enough\n", after)
    proc.send_signal(signal.SIGTERM)
    while os.read(fd, 1 << 20):  # read on, or the end would wait on a full pipe
        pass
    assert proc.wait(30) == 0
    with open(os.path.join(home, "stderr")) as f:
        assert re.search(r"\d+ lines of app output were dropped from the console", f.read())
    # --no-log-files: no file, nor the directory made with an app's first one
    assert not os.path.exists(os.path.join(paths.log_dir, "chatty"))


def test_run_refuses_the_foreground_options_with_detached(cli: Callable[..., Result]) -> None:
    result = cli("run", "--detached", "--logs")
    assert result.code == 2
    assert "for the foreground" in result.err


def test_a_bad_config_file_refuses_the_start_and_touches_nothing(
    cli: Callable[..., Result], home: str
) -> None:
    path = os.path.join(home, "procward.toml")
    with open(path, "w") as f:
        f.write('[apps.web]\ncmd = "sleep 1000"\ninstances = "two"\n')
    result = cli("run", "-c", path, timeout=60)
    assert result.code == 1
    assert "apps.web.instances" in result.err


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (4, 1)])
def test_any_exit_ends_the_daemon_with_0_only_after_a_clean_exit(
    cli: Callable[..., Result], home: str, code: int, expected: int
) -> None:
    path = os.path.join(home, "procward.toml")
    with open(path, "w") as f:
        f.write(
            textwrap.dedent(f"""
            [apps.steady]
            cmd = ["sleep", "1000"]

            [apps.job]
            cmd = ["sh", "-c", "sleep 0.2; exit {code}"]
            restart = "always"
            """)
        )
    result = cli("run", "-c", path, "--exit-on", "any-exit", timeout=60)
    assert result.code == expected, result.err
    assert f"job.0 backoff (exit status {code}; --exit-on any-exit)" in result.err
