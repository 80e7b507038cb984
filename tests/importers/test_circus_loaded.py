"""Every imported Circus file, loaded by ``procward up -c`` into a real daemon and started.

As ``test_loaded.py`` does for supervisord and Procfiles, with one step more:
the files' socket ports are replaced by free ones in a copy, since the
daemon binds them. Then what circusd would have done is checked on the
running daemon: instances, environment, start order, stop signal and
timeout, the sockets passed to the apps (they answer on them), the worker id.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit.testing import free_port

from ..daemon.conftest import app_instances, wait_all_state
from .conftest import DATA
from .test_circus import CIRCUS_ENVIRON, FILES, read_circus

pytestmark = pytest.mark.usefixtures("daemon")


def import_and_load(
    cli: Callable[..., Any], home: str, tmp_path: Path, relative: str
) -> dict[int, int]:
    """Import a copy of ``relative`` with free ports, load it; {port in the file: port used}.

    The copy is of its whole directory (the files it includes), every ``port = N`` replaced.
    """
    copy = tmp_path / "conf"
    shutil.copytree(os.path.dirname(os.path.join(DATA, relative)), copy)
    ports: dict[int, int] = {}
    for path in copy.rglob("*.ini"):
        text = path.read_text()
        for port in re.findall(r"^port = (\d+)$", text, re.MULTILINE):
            ports[int(port)] = ports.get(int(port)) or free_port()
            text = text.replace(f"port = {port}\n", f"port = {ports[int(port)]}\n")
        path.write_text(text)
    copy = copy / os.path.basename(relative)
    out = os.path.join(home, "procward.toml")
    result = cli("import", str(copy), "-o", out, env=CIRCUS_ENVIRON)
    assert result.code == 0, result.err
    loaded = cli("up", "-c", out)
    assert loaded.code == 0, loaded.err
    return ports


def answer(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.settimeout(10)
        return conn.makefile().readline().strip()


@pytest.mark.parametrize("relative", FILES)
def test_each_import_loads_into_a_daemon_and_its_apps_start(
    relative: str, daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    import_and_load(cli, home, tmp_path, relative)
    for app in read_circus(relative).apps:
        if app.keys.get("autostart", True):
            count = app.keys.get("instances", 1)
            assert isinstance(count, int)
            wait_all_state(daemon, app.name, "running", count=count, timeout=20)


def test_the_socket_named_in_the_command_is_the_apps(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    ports = import_and_load(cli, home, tmp_path, "circus/web/circus.ini")
    wait_all_state(daemon, "web", "running", count=2, timeout=20)
    answers = {answer(ports[8765]) for _ in range(20)}
    assert answers <= {"hello from circus 0 fd=3", "hello from circus 1 fd=3"}
    spec = daemon.call("getApp", name="web")["spec"]
    assert (spec["stop_signal"], spec["stop_timeout"]) == ("INT", "5s")


def test_a_stdin_socket_is_on_fd_0_and_a_named_one_on_fd_3(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    ports = import_and_load(cli, home, tmp_path, "circus/django/circus.ini")
    wait_all_state(daemon, "fcgi", "running", count=1, timeout=20)
    assert answer(ports[8767]) == "hello 0 fd=0"
    wait_all_state(daemon, "mysite", "running", count=3, timeout=20)
    assert answer(ports[8766]).startswith("hello from django ")


def test_priority_tiers_start_the_highest_first(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    import_and_load(cli, home, tmp_path, "circus/priority/circus.ini")
    started = {}
    for name, count in (("db", 1), ("cache", 1), ("web", 2), ("worker", 1)):
        found = wait_all_state(daemon, name, "running", count=count, timeout=20)
        started[name] = min(i["started_at"] for i in found)
    assert started["db"] < started["cache"] < min(started["web"], started["worker"])
    assert app_instances(daemon, "manual")[0]["pid"] is None


def test_instances_env_and_stop_as_declared(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    import_and_load(cli, home, tmp_path, "circus/celery/circus.ini")
    wait_all_state(daemon, "celery", "running", count=2, timeout=20)
    for index in (0, 1):
        env = daemon.call("getEnv", name="celery", instance=index)
        assert (env["C_FORCE_ROOT"], env["CELERY_QUEUES"]) == ("true", "default,high")
    spec = daemon.call("getApp", name="celery")["spec"]
    assert (spec["stop_signal"], spec["stop_timeout"], spec["restart"]) == ("QUIT", "10m", "always")


def test_an_included_watcher_gets_its_socket(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    ports = import_and_load(cli, home, tmp_path, "circus/include/circus.ini")
    wait_all_state(daemon, "api", "running", count=1, timeout=20)
    assert answer(ports[8768]) == "hello from an include 0 fd=3"


def test_the_worker_id_is_the_instance_number(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    import_and_load(cli, home, tmp_path, "circus/messy/circus.ini")
    found = wait_all_state(daemon, "wid", "running", count=2, timeout=20)
    argv = []
    for instance in found:
        with open(f"/proc/{instance['pid']}/cmdline", "rb") as f:
            argv.append(f.read().split(b"\0")[:-1])
    assert argv == [[b"sleep", b"618", b"0"], [b"sleep", b"618", b"1"]]
