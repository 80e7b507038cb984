"""A daemon without ``[daemon.cluster] enabled = true`` never imports the fleet nor redis.

Checked on a real daemon: ``procward run -c FILE`` under ``python -X
importtime`` (PYTHONPROFILEIMPORTTIME), which prints every module as the process imports it, for
its whole life. The daemon is asked for its status and stopped; what it
imported is read back. The same daemon with the cluster enabled (an
unreachable Redis: it never connects) is the control that shows the test
can see the imports it forbids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from procward.kit._client import Client
from procward.kit._paths import resolve
from procward.kit.testing import free_port, wait_for


def imports_of_a_daemon(home: str, cluster: str) -> set[str]:
    config = os.path.join(home, "procward.toml")
    with open(config, "w") as f:
        f.write(
            cluster
            + textwrap.dedent("""
            [apps.web]
            cmd = ["sleep", "100000"]
            """)
        )
    env = {**os.environ, "PROCWARD_HOME": home, "PROCWARD_CGROUP": "off"}
    env["PYTHONPROFILEIMPORTTIME"] = "1"  # -X importtime, for the daemon the CLI execs too
    proc = subprocess.Popen(
        [sys.executable, "-m", "procward", "run", "-c", config],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        paths = resolve("procward", env={"PROCWARD_HOME": home})

        def serving() -> bool:
            try:
                with Client.open(paths.socket, timeout=2) as client:
                    return client.call("getApp", name="web")["instances"][0]["state"] == "running"
            except Exception:
                return False

        wait_for(serving, 20, 0.05, what="the daemon serving, web running")
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return {
        line.rsplit("|", 1)[1].strip()
        for line in err.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_an_idle_daemon_without_a_fleet_imports_none_of_it(
    tmp_path: pytest.TempPathFactory,
) -> None:
    loaded = imports_of_a_daemon(str(tmp_path), "")
    assert "procward.daemon.parts.fleet" in loaded  # the part is there, switched off
    assert not [n for n in loaded if n == "redis" or n.startswith(("redis.", "procward.fleet"))]


def test_the_control_a_daemon_with_a_fleet_imports_it(tmp_path: pytest.TempPathFactory) -> None:
    pytest.importorskip("redis")
    cluster = textwrap.dedent(f"""
        [daemon.cluster]
        enabled = true
        redis = "redis://127.0.0.1:{free_port()}/0"
        node = "lazy"
        """)
    loaded = imports_of_a_daemon(str(tmp_path), cluster)
    assert "procward.fleet.node" in loaded and "redis.asyncio" in loaded
