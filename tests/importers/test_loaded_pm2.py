"""Every imported PM2 file, loaded by ``procward up -c`` into a real daemon and started.

As ``test_loaded.py`` does for supervisord and Procfiles: each file is
imported with the CLI, the result given to ``procward up -c`` as is, every
app that starts with the daemon waited for until all its instances run,
then what the PM2 file declared is checked on the running daemon:
instances, environment, the stop signal and timeout, readiness.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from procward.kit._client import Client

from ..daemon.conftest import app_instances, wait_all_state
from .conftest import ENVIRON
from .test_pm2 import FILES, copy_pm2_data, read_pm2

pytestmark = pytest.mark.usefixtures("daemon")


def import_and_load(
    cli: Callable[..., Any], home: str, path: Path, *options: str
) -> dict[str, Any]:
    out = os.path.join(home, "procward.toml")
    result = cli("import", str(path), "-o", out, *options, env=ENVIRON)
    assert result.code == 0, result.err
    loaded = cli("up", "-c", out)
    assert loaded.code == 0, loaded.err
    return {"out": out, "err": result.err}


@pytest.mark.parametrize("relative", FILES)
def test_each_pm2_import_loads_into_a_daemon_and_its_apps_start(
    relative: str, daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    if relative.endswith((".js", ".cjs", ".mjs", "processes.json")) and not shutil.which("node"):
        pytest.skip("node is not installed (make test-tools installs Debian's nodejs)")
    root = copy_pm2_data(tmp_path)
    import_and_load(cli, home, root / relative)
    for app in read_pm2(root, relative).apps:
        spec = daemon.call("getApp", name=app.name)["spec"]
        assert spec["stop_signal"] == "INT"  # how PM2 stops, what its apps handle
        if app.keys.get("autostart", True):
            count = app.keys.get("instances", 1)
            assert isinstance(count, int)
            wait_all_state(daemon, app.name, "running", count=count, timeout=20)
        else:
            assert app_instances(daemon, app.name)[0]["pid"] is None


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_instances_env_and_stop_timeout_as_the_ecosystem_file_declared(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    root = copy_pm2_data(tmp_path)
    import_and_load(cli, home, root / "dotenv/ecosystem.config.js", "--env", "production")
    wait_all_state(daemon, "api", "running", count=2, timeout=20)  # API_WORKERS=2 from .env
    envs = [daemon.call("getEnv", name="api", instance=i) for i in range(2)]
    assert [e["NODE_APP_INSTANCE"] for e in envs] == ["0", "1"]
    assert {e["DATABASE_URL"] for e in envs} == {"postgres://app@127.0.0.1/app"}
    assert {e["NODE_ENV"] for e in envs} == {"production"}  # env_production, by --env
    spec = daemon.call("getApp", name="api")["spec"]
    assert (spec["stop_signal"], spec["stop_timeout"], spec["restart"]) == ("INT", "4s", "always")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_cpu_count_and_increment_var_per_instance(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    root = copy_pm2_data(tmp_path)
    import_and_load(cli, home, root / "cluster/ecosystem.config.js")
    cpus = os.cpu_count() or 1
    wait_all_state(daemon, "web", "running", count=cpus, timeout=20)  # "max"
    ports = [daemon.call("getEnv", name="web", instance=i)["PORT"] for i in range(min(cpus, 10))]
    assert ports == [str(8080 + i) for i in range(min(cpus, 10))]


def test_a_jlist_runs_what_pm2_ran(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    root = copy_pm2_data(tmp_path)
    import_and_load(cli, home, root / "jlist/jlist.json")
    wait_all_state(daemon, "web", "running", count=2, timeout=20)
    env = daemon.call("getEnv", name="web", instance=1)
    assert (env["WEB_ROLE"], env["NODE_APP_INSTANCE"]) == ("frontend", "1")
    assert "SSH_CONNECTION" not in env  # the shell's, left out
    spec = daemon.call("getApp", name="web")["spec"]
    assert (spec["stop_timeout"], spec["max_memory"]) == ("3s", 268435456)
    assert app_instances(daemon, "backfill")[0]["pid"] is None  # stopped when listed


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_wait_ready_becomes_a_notify_probe_that_is_met(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    root = copy_pm2_data(tmp_path)
    import_and_load(cli, home, root / "ready/ecosystem.config.js")
    wait_all_state(daemon, "api-ready", "running", count=2, timeout=20)
    spec = daemon.call("getApp", name="api-ready")["spec"]
    assert spec["ready"]["notify"] is True and spec["stop_timeout"] == "7s"
