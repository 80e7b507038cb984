"""examples/client/: the three worked examples of docs/client.md, run against real daemons.

Each runs as a user would run it (a separate Python), in the test's own
PROCWARD_HOME; and ``mypy --strict`` passes on them, as on the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "client"
Runner = Callable[..., Result]


def example(name: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(home: str, name: str, text: str) -> str:
    path = os.path.join(home, name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


def test_mypy_strict_passes_on_the_examples() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_deploy_reloads_and_waits_until_healthy(cli: Runner, home: str) -> None:
    config = write(
        home,
        "procward.toml",
        """\
        [apps.web]
        cmd = "sleep 600"
        instances = 2
        """,
    )
    assert cli("up", "-c", config).code == 0
    before = cli("status", "web", "--json").out
    done = example("deploy.py", "web", "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deploy: web reloaded and healthy (pids ")
    assert before != cli("status", "web", "--json").out
    unknown = example("deploy.py", "nope")
    assert unknown.returncode == 2
    assert "no app named 'nope'" in unknown.stderr
    assert cli("down").code == 0


def test_ci_job_starts_the_stack_and_waits_for_a_line(cli: Runner, home: str) -> None:
    config = write(
        home,
        "stack.toml",
        """\
        [apps.db]
        cmd = "sleep 600"

        [apps.api]
        cmd = ["sh", "-c", "echo booting; sleep 0.2; echo listening on 8080; exec sleep 600"]
        depends_on = ["db"]
        """,
    )
    try:
        done = example("ci_logs.py", config, "api", "listening on", "--timeout", "30")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "ci: api said: listening on 8080\n"
        late = example("ci_logs.py", config, "api", "never said", "--timeout", "0.5")
        assert late.returncode == 1
        assert "ci: no line with 'never said' within 0.5s" in late.stderr
    finally:
        assert cli("--instance", "ci", "down").code == 0


@pytest.mark.slow
def test_async_monitor_restarts_what_exits(cli: Runner, home: str) -> None:
    config = write(
        home,
        "procward.toml",
        """\
        [apps.flaky]
        cmd = ["sh", "-c", "sleep 0.2; exit 3"]
        restart = "never"
        """,
    )
    assert cli("up").code == 0
    monitor = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "monitor.py"), "--limit", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert monitor.stdout is not None
        assert monitor.stdout.readline() == "monitor: watching all\n"
        assert cli("up", "-c", config).code in (0, 1)  # it may have exited already
        out, err = monitor.communicate(timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
    assert monitor.returncode == 0, err
    assert out.count("monitor: flaky:0 ") == 2
    assert out.endswith("monitor: 2 restarts\n")
    assert cli("down").code == 0
