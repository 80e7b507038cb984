"""``procward doctor``: each planted problem found, with its fix; a healthy instance passes.

Each test plants one problem in its own PROCWARD_HOME and runs the command
as a user would (``--json``, to read the findings exactly), or, for what
cannot be planted on this machine (a systemd that runs), calls the check
with the paths it reads. Where the fix is a command, the test runs it and
the problem is gone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from procward.cli.doctor import check_unit, start_command
from procward.cli.findings import problem
from procward.cli.hostchecks import check_clock, check_logs
from procward.cli.units import Systemd, find_unit
from procward.kit._lock import is_locked
from procward.kit._metadata import Liveness
from procward.kit._paths import InstancePaths, resolve
from procward.kit.testing import wait_for
from procward.supervision.delegation import v2_mount

from ..conftest import Result, TinyDisk, run_cli

Cli = Callable[..., Result]


def doctor(cli: Cli, **env: str) -> tuple[int, list[dict[str, str]]]:
    result = cli("--json", "doctor", env=env or None)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)["findings"]


def problems(findings: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The problems by check (one each in these tests)."""
    return {f["check"]: f for f in findings if f["level"] == "problem"}


def test_a_healthy_instance_has_no_problem(cli: Cli, paths: InstancePaths, load_apps: Any) -> None:
    assert cli("up").code == 0
    load_apps("""
        [apps.web]
        cmd = "sleep 600"
        instances = 2
        log_max_size = "1MB"
    """)
    code, findings = doctor(cli)
    assert code == 0, problems(findings)
    levels = {f["check"]: f["level"] for f in findings}
    assert levels["daemon"] == levels["socket"] == levels["lock"] == levels["dirs"] == "ok"
    # 2 instances x out, err x (5 backups + the live file) x 1 MiB.
    assert "at most 24.0M by rotation" in next(f["text"] for f in findings if f["check"] == "logs")
    assert levels["cgroups"] == "info"  # PROCWARD_CGROUP=off (tests/conftest.py): a choice
    text = cli("doctor")
    assert text.code == 0 and text.out.endswith("no problems\n")
    assert cli("down").code == 0


def test_a_loose_directory_is_found_with_the_chmod_that_fixes_it(
    cli: Cli, paths: InstancePaths
) -> None:
    assert cli("up").code == 0
    os.chmod(paths.log_dir, 0o755)
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"dirs"}
    assert found["dirs"]["text"] == (
        f"{paths.log_dir} has permissions 0755; it must be private (0700)."
    )
    assert found["dirs"]["fix"] == f"chmod 700 {paths.log_dir}"
    os.chmod(paths.log_dir, 0o700)  # the fix
    assert doctor(cli)[0] == 0
    assert cli("down").code == 0


def test_a_stale_socket_is_found_and_up_clears_it(cli: Cli, paths: InstancePaths) -> None:
    paths.ensure()
    with socket.socket(socket.AF_UNIX) as sock:  # bound, closed: a file nobody listens on
        sock.bind(paths.socket)
    os.chmod(paths.socket, 0o600)
    before = _tree(paths.state_dir)
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"socket", "daemon"}
    assert found["socket"]["text"] == (
        f"{paths.socket} is stale: nobody listens (left by a daemon that died)"
    )
    assert found["socket"]["fix"].startswith("procward up")
    assert _tree(paths.state_dir) == before, "doctor changed the instance's files"
    assert not is_locked(paths.lock), "doctor started a daemon"
    assert cli("up").code == 0  # the fix
    assert doctor(cli)[0] == 0
    assert cli("down").code == 0


def _tree(directory: str) -> dict[str, tuple[int, int, float]]:
    """Every file under ``directory``: mode, size, mtime."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            found[os.path.join(root, name)] = (st.st_mode, st.st_size, st.st_mtime)
    return found


def test_a_daemon_that_is_down_is_found_and_not_started(cli: Cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    assert cli("down").code == 0
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"daemon"}
    assert found["daemon"]["text"] == "the daemon is not running"
    assert found["daemon"]["fix"] == "procward up"
    assert not is_locked(paths.lock), "doctor started a daemon"
    cgroups = next(f for f in findings if f["check"] == "cgroups")
    assert cgroups["level"] == "info" and "down" in cgroups["text"]


def test_a_daemon_that_died_leaves_a_stale_lock_and_socket(cli: Cli, paths: InstancePaths) -> None:
    assert cli("up").code == 0
    with open(paths.metadata) as f:
        pid = json.load(f)["pid"]
    os.kill(pid, 9)
    wait_for(lambda: not is_locked(paths.lock), 10, what="the daemon gone")
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"lock", "socket", "daemon"}
    assert found["lock"]["text"] == (
        f"the last daemon (pid {pid}) died without cleaning up: {paths.metadata} is left"
    )
    assert paths.daemon_log in found["lock"]["fix"]
    assert cli("up").code == 0
    assert doctor(cli)[0] == 0
    assert cli("down").code == 0


def test_a_full_log_disk_is_found(tiny_disk: TinyDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 256 KiB tmpfs: not a problem while it has room (the threshold is 5 % of a small
    disk, not 100 MiB), one once it is full, none once it is freed."""
    monkeypatch.setenv("PROCWARD_HOME", tiny_disk.path)
    paths = resolve("procward")
    paths.ensure()
    assert set(problems(doctor(run_cli)[1])) == {"daemon"}
    tiny_disk.fill()
    found = problems(doctor(run_cli)[1])
    assert set(found) == {"daemon", "disk"}
    assert found["disk"]["text"].startswith("0B free of 256K where the logs are")
    assert found["disk"]["fix"].startswith(f"free space on the file system of {paths.log_dir}")
    assert "procward flush" in found["disk"]["fix"]
    tiny_disk.free()
    assert set(problems(doctor(run_cli)[1])) == {"daemon"}


def test_a_missing_unit_is_found_and_startup_writes_it(tmp_path: Any, home: str) -> None:
    """systemd does not run on the test machine: the check is given one that does."""
    config = tmp_path / "config"
    systemd = Systemd(
        booted=True,
        user="ann",
        user_dirs=[str(config / "systemd" / "user"), str(tmp_path / "etc-user")],
        system_dirs=[str(tmp_path / "etc-system")],
        linger_dir=str(tmp_path / "linger"),
    )
    [missing] = check_unit(find_unit("procward", systemd), systemd)
    assert (missing.level, missing.text) == (
        "problem",
        "no procward.service unit: nothing starts this instance at boot",
    )
    assert missing.fix.startswith("procward startup")

    wrote = run_cli("startup", env={"XDG_CONFIG_HOME": str(config)})  # the fix
    assert wrote.code == 0, wrote.err
    unit = config / "systemd" / "user" / "procward.service"
    assert f"wrote {unit}" in wrote.out
    assert "systemctl --user enable --now procward.service" in wrote.out
    [disabled] = check_unit(find_unit("procward", systemd), systemd)
    assert disabled.level == "problem"
    assert disabled.fix == "systemctl --user enable --now procward.service"

    wants = config / "systemd" / "user" / "default.target.wants"
    wants.mkdir()
    (wants / "procward.service").symlink_to(unit)  # what that command does
    enabled, linger = check_unit(find_unit("procward", systemd), systemd)
    assert (enabled.level, linger.level) == ("ok", "info")
    assert linger.fix == "loginctl enable-linger ann"
    (tmp_path / "linger").mkdir()
    (tmp_path / "linger" / "ann").touch()
    assert [f.level for f in check_unit(find_unit("procward", systemd), systemd)] == ["ok"]


def test_without_systemd_the_unit_is_an_info_not_a_problem(cli: Cli) -> None:
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here")
    _, findings = doctor(cli)
    unit = next(f for f in findings if f["check"] == "unit")
    assert unit["level"] == "info" and "systemd does not run here" in unit["text"]


def test_no_cgroup_delegation_is_found_with_the_fix(cli: Cli, paths: InstancePaths) -> None:
    """The daemon in a mount namespace where the cgroup v2 file system is read-only, as
    in a container that was given none of its own: it may not make cgroups."""
    mount = v2_mount()
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy here")
    started = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            f'mount -o remount,bind,ro "{mount}" && exec "$0" -m procward up',
            sys.executable,
        ],
        env={**os.environ, "PROCWARD_CGROUP": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if started.returncode != 0 and not is_locked(paths.lock):
        pytest.skip(f"cannot remount the cgroup file system read-only: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"cgroups"}
    assert (
        found["cgroups"]["text"]
        == f"not used: cgroup {_own(mount)} is not delegated to this daemon"
    )
    assert (
        "Delegate=yes" in found["cgroups"]["fix"] and "procward startup" in found["cgroups"]["fix"]
    )
    assert cli("down").code == 0


def _own(mount: str) -> str:
    from procward.supervision.delegation import own_cgroup

    own = own_cgroup(mount)
    assert own is not None
    return own


def test_a_cgroup_named_but_missing_is_found(cli: Cli) -> None:
    assert cli("up", env={"PROCWARD_CGROUP": "/procward-doctor-no-such"}).code == 0
    code, findings = doctor(cli)
    assert code == 1
    found = problems(findings)
    assert set(found) == {"cgroups"}
    if v2_mount() is not None:
        assert (
            "PROCWARD_CGROUP=/procward-doctor-no-such: no such cgroup" in found["cgroups"]["text"]
        )
        assert found["cgroups"]["fix"].startswith("make that cgroup, or unset PROCWARD_CGROUP")
    assert cli("down").code == 0


def test_logs_past_what_rotation_keeps_are_found(paths: InstancePaths) -> None:
    """An instance's files that no rotation removes (of an instance scaled away)."""
    paths.ensure()
    spec = {"name": "web", "instances": 1, "merge_logs": True, "log_backups": 1}
    with open(paths.state, "w") as f:
        json.dump({"apps": [{"spec": {**spec, "log_max_size": 1024}}]}, f)
    os.makedirs(os.path.join(paths.log_dir, "web"))
    with open(os.path.join(paths.log_dir, "web", "0.log"), "wb") as f:
        f.write(b"x" * 1024)
    assert [f.level for f in check_logs(paths)] == ["ok"]
    with open(os.path.join(paths.log_dir, "web", "3.log"), "wb") as f:
        f.write(b"x" * 4096)
    [found] = check_logs(paths)
    directory = os.path.join(paths.log_dir, "web")
    assert (
        found.as_dict()
        == problem(
            "logs",
            f"{directory} holds 5K, more than rotation keeps for web (2K): files of "
            "instances scaled away, or written by something else",
            f"remove the files in {directory} no instance writes (its instances are 0 to 0); "
            "`procward flush web` empties the rest",
        ).as_dict()
    )


def test_a_clock_behind_the_state_files_is_found(paths: InstancePaths) -> None:
    """After the clock went back (a VM restored, NTP stepping): files from "the future"."""
    paths.ensure()
    with open(paths.state, "w") as f:
        f.write("{}")
    now = os.stat(paths.state).st_mtime
    [fine] = check_clock(paths, now, "boot", None, Liveness.NOT_RUNNING)
    assert fine.level == "ok"
    [late] = check_clock(paths, now - 3600, "boot", None, Liveness.NOT_RUNNING)
    assert (late.level, late.text) == (
        "problem",
        f"the clock is 1h0m behind {paths.state}'s time: it went back "
        "(backoff, uptime days and --since go by it)",
    )
    assert late.fix.startswith("set the clock right")


def test_a_daemon_down_under_an_enabled_unit_is_started_by_systemctl(tmp_path: Any) -> None:
    units = tmp_path / "user"
    (units / "default.target.wants").mkdir(parents=True)
    (units / "procward.service").touch()
    (units / "default.target.wants" / "procward.service").symlink_to(units / "procward.service")
    systemd = Systemd(
        booted=True, user="ann", user_dirs=[str(units)], system_dirs=[], linger_dir=str(tmp_path)
    )
    unit = find_unit("procward", systemd)
    assert start_command(unit, systemd) == "systemctl --user start procward.service"
    gone = Systemd(booted=False, user="ann", user_dirs=[], system_dirs=[], linger_dir="")
    assert start_command(unit, gone) == "procward up"


def test_with_connect_it_says_it_checks_this_machine(cli: Cli) -> None:
    _, findings = doctor(cli, PROCWARD_CONNECT="127.0.0.1:9")
    assert findings[0] == {
        "check": "connect",
        "level": "info",
        "text": "this machine's instance is checked, not --connect's",
        "fix": "",
    }
