"""Every imported file, loaded by ``procward up -c`` into a real daemon and started.

Each test file is imported with the CLI (as a user would), the result given
to ``procward up -c`` as is, and every app that starts with the daemon is
waited for until all its instances run; then what the original declared is
checked on the running daemon: instances, environment, start order, stop
signal and timeout.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit.testing import free_port

from ..daemon.conftest import app_instances, wait_all_state
from .conftest import DATA, ENVIRON, read_data
from .test_procfile import FILES as PROCFILES
from .test_supervisord import FILES as SUPERVISORD

pytestmark = pytest.mark.usefixtures("daemon")


def import_and_load(cli: Callable[..., Any], home: str, relative: str) -> str:
    out = os.path.join(home, "procward.toml")
    result = cli("import", os.path.join(DATA, relative), "-o", out, env=ENVIRON)
    assert result.code == 0, result.err
    loaded = cli("up", "-c", out)
    assert loaded.code == 0, loaded.err
    return out


@pytest.mark.parametrize("relative", SUPERVISORD + PROCFILES)
def test_each_import_loads_into_a_daemon_and_its_apps_start(
    relative: str, daemon: Client, cli: Callable[..., Any], home: str
) -> None:
    import_and_load(cli, home, relative)
    for app in read_data(relative).apps:
        if app.keys.get("autostart", True):
            count = app.keys.get("instances", 1)
            assert isinstance(count, int)
            wait_all_state(daemon, app.name, "running", count=count, timeout=20)


def test_priority_tiers_start_in_order(daemon: Client, cli: Callable[..., Any], home: str) -> None:
    import_and_load(cli, home, "supervisord/priority.conf")
    started = {}
    for name, count in (("db", 1), ("cache", 1), ("web", 2), ("worker", 1)):
        found = wait_all_state(daemon, name, "running", count=count, timeout=20)
        started[name] = min(i["started_at"] for i in found)
    assert started["db"] < started["cache"] < min(started["web"], started["worker"])
    assert app_instances(daemon, "manual")[0]["pid"] is None


def test_instances_and_env_as_declared(daemon: Client, cli: Callable[..., Any], home: str) -> None:
    import_and_load(cli, home, "supervisord/celery.conf")
    wait_all_state(daemon, "celery", "running", count=3, timeout=20)
    workers = [daemon.call("getEnv", name="celery", instance=i)["WORKER"] for i in range(3)]
    assert workers == ["w00", "w01", "w02"]  # %(process_num)02d
    spec = daemon.call("getApp", name="celery")["spec"]
    assert (spec["stop_timeout"], spec["restart"]) == ("10m", "on-failure")


def test_stop_signal_and_timeout_as_declared(
    daemon: Client, cli: Callable[..., Any], home: str
) -> None:
    import_and_load(cli, home, "supervisord/crlf.conf")
    spec = daemon.call("getApp", name="nginx")["spec"]
    assert (spec["stop_signal"], spec["stop_timeout"], spec["restart"]) == ("QUIT", "3s", "always")


def test_procfile_ports_and_env_file(daemon: Client, cli: Callable[..., Any], home: str) -> None:
    import_and_load(cli, home, "procfile/rails/Procfile")
    wait_all_state(daemon, "worker", "running", count=1, timeout=20)
    env = daemon.call("getEnv", name="worker", instance=0)
    assert (env["PORT"], env["GREETING"], env["RAILS_ENV"]) == ("5100", "hello world", "production")


def test_an_fcgi_program_gets_its_socket_on_fd_0(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    port = free_port()
    with open(os.path.join(DATA, "supervisord/fcgi.conf"), encoding="utf-8") as f:
        text = f.read().replace("tcp://127.0.0.1:9000", f"tcp://127.0.0.1:{port}")
    (tmp_path / "fcgi.conf").write_text(text)
    import_and_load(cli, home, str(tmp_path / "fcgi.conf"))
    wait_all_state(daemon, "app", "running", count=2, timeout=20)
    answers = {fcgi_answer(socket.AF_INET, ("127.0.0.1", port)) for _ in range(10)}
    assert answers <= {"hello fastcgi 0 fd=0", "hello fastcgi 1 fd=0"}


def test_an_fcgi_program_on_a_unix_socket(
    daemon: Client, cli: Callable[..., Any], home: str, tmp_path: Path
) -> None:
    with open(os.path.join(DATA, "supervisord/fcgi-unix.conf"), encoding="utf-8") as f:
        text = f.read().replace("unix:///run/php/", f"unix://{tmp_path}/")
    (tmp_path / "fcgi.conf").write_text(text)
    import_and_load(cli, home, str(tmp_path / "fcgi.conf"))
    wait_all_state(daemon, "php", "running", count=1, timeout=20)
    assert fcgi_answer(socket.AF_UNIX, str(tmp_path / "php.sock")) == "hello 0 fd=0"
    wait_all_state(daemon, "worker", "running", count=1, timeout=20)


def fcgi_answer(family: int, address: str | tuple[str, int]) -> str:
    with socket.socket(family, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(address)
        return conn.makefile().readline().strip()
