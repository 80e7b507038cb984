"""Checks of a config against this machine (supervision/preflight.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from procward.supervision.preflight import check_on_this_machine
from procward.supervision.spec import AppSpec, ConfigError, Launch


def plan(argv: tuple[str, ...], cwd: str | None = None, path: str = "/usr/bin:/bin") -> Launch:
    return Launch(argv=argv, env={"PATH": path}, cwd=cwd)


def test_programs_are_found_as_the_spawn_finds_them(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ok = [
        (AppSpec("a", ("sh",)), plan(("sh", "-c", "true"))),
        (AppSpec("b", ("./run.sh",)), plan(("./run.sh",), cwd=str(tmp_path))),
        (AppSpec("c", ("run.sh",)), plan(("run.sh",), path=str(tmp_path))),
    ]
    check_on_this_machine(ok, {})


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("")
    bad = [
        (AppSpec("a", ("nope-xyz",)), plan(("nope-xyz",))),
        (AppSpec("b", ("./x",)), plan(("./x",), cwd=str(tmp_path / "missing"))),
        (AppSpec("c", ("plain.txt",)), plan((str(plain),))),
        (AppSpec("d", ("./x",)), plan((str(tmp_path),))),
    ]
    with pytest.raises(ConfigError) as caught:
        check_on_this_machine(bad, {})
    assert [str(p) for p in caught.value.problems] == [
        "apps.a.cmd: nope-xyz: command not found (PATH=/usr/bin:/bin)",
        f"apps.b.cwd: {tmp_path}/missing is not a directory",
        f"apps.c.cmd: {plain}: not an executable file",
        f"apps.d.cmd: {tmp_path}: not an executable file",
    ]


def test_an_address_in_use_is_refused_unless_the_app_holds_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        spec = AppSpec("web", ("sh",), sockets={"http": address})
        with pytest.raises(ConfigError, match=r"apps.web.sockets.http: cannot listen on .*in use"):
            check_on_this_machine([(spec, plan(("sh",)))], {})
        check_on_this_machine([(spec, plan(("sh",)))], {"web": {"http": address}})
    check_on_this_machine([(spec, plan(("sh",)))], {})  # free: the trial bind is undone
