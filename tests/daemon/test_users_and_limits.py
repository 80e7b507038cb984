"""Apps as other users, with limits (issue 14, items 2 and 3): real daemons, real processes.

What the kernel says of the process is the test: ``/proc/PID/status`` (ids,
groups, umask), ``/proc/PID/limits``, ``/proc/PID/stat`` (nice) and
``/proc/PID/oom_score_adj``. Changing users needs root; those tests skip
otherwise. Limits stay under the hard limits the tests run with: a root
without CAP_SYS_RESOURCE (a container's) cannot raise them. The apps are
``/bin/sh`` (the test's Python may live where ``nobody`` cannot read it).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable

import pytest

from procward.kit._client import Client
from procward.kit.testing import wait_for
from tests.conftest import Result
from tests.daemon.conftest import LoadApps, app_instances, pid_of, wait_state

pytestmark = pytest.mark.usefixtures("daemon")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing users needs root")


def status_fields(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.decode().split("=", 1) for item in f.read().split(b"\0") if item]
    return dict(pairs)


def limits_of(pid: int) -> dict[str, tuple[str, str]]:
    """``{"Max open files": (soft, hard)}`` from ``/proc/PID/limits``."""
    with open(f"/proc/{pid}/limits") as f:
        lines = f.read().splitlines()[1:]
    return {line[:26].strip(): (line[26:47].strip(), line[47:68].strip()) for line in lines}


def nice_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        after_comm = f.read().rsplit(")", 1)[1].split()
    return int(after_comm[16])  # field 19 of stat(5); fields start at 3 after the name


def read_log(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read() or None
    except FileNotFoundError:
        return None


@as_root
def test_an_app_runs_as_its_user_with_its_groups_home_umask_and_limits(
    daemon: Client, load_apps: LoadApps
) -> None:
    nobody = pwd.getpwnam("nobody")
    load_apps("""
        [apps.job]
        cmd = ["/bin/sh", "-c", "exec sleep 600"]
        cwd = "/"
        user = "nobody"
        umask = "027"
        limits = { nofile = [1000, 2000], core = 0, memlock = "4MB", nproc = 512 }
        nice = 10
        oom_score_adj = 500
    """)
    wait_state(daemon, "job", "running")
    pid = pid_of(daemon, "job")
    status = status_fields(pid)
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
    assert status["Groups"].split() == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
    assert status["Umask"] == "0027"
    env = environ_of(pid)
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == (nobody.pw_dir, "nobody", "nobody")
    assert env["SHELL"] == nobody.pw_shell
    assert "LC_CTYPE" not in env  # the shim's Python does not leak its locale coercion
    limits = limits_of(pid)
    assert limits["Max open files"] == ("1000", "2000")
    assert limits["Max core file size"] == ("0", "0")
    assert limits["Max locked memory"] == (str(4 << 20), str(4 << 20))
    assert limits["Max processes"] == ("512", "512")
    assert nice_of(pid) == 10
    with open(f"/proc/{pid}/oom_score_adj") as f:
        assert f.read().strip() == "500"
    # The pid the daemon watches is the program's: the shim exec'd, it did not fork.
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "sleep"


@as_root
def test_a_secret_file_is_readable_by_the_apps_user(
    daemon: Client, load_apps: LoadApps, home: str
) -> None:
    value = "tok-" + os.urandom(8).hex()
    daemon.call("setSecret", name="token", value=value)
    load_apps("""
        [apps.reader]
        cmd = ["/bin/sh", "-c", "sha256sum \\"$CREDENTIALS_DIRECTORY/token\\"; exec sleep 600"]
        cwd = "/"
        user = "nobody"
        secrets = ["token"]
        secrets_as = "files"
        log_owner = "app"
    """)
    wait_state(daemon, "reader", "running")
    out = os.path.join(home, "default", "logs", "reader", "0.out")
    written = wait_for(lambda: read_log(out), 10, what="the app's output")
    assert hashlib.sha256(value.encode()).hexdigest() in written
    pid = pid_of(daemon, "reader")
    directory = environ_of(pid)["CREDENTIALS_DIRECTORY"]
    nobody = pwd.getpwnam("nobody")
    st = os.stat(directory)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o500)
    # log_owner = "app": the files are the user's; their directory stays the daemon's
    assert os.stat(out).st_uid == nobody.pw_uid
    assert os.stat(os.path.dirname(out)).st_uid == 0
    daemon.call("stopApp", name="reader")
    wait_state(daemon, "reader", "stopped")
    assert not os.path.exists(directory)  # removed with its process, as any other


def test_a_setting_the_shim_cannot_apply_is_the_spawn_failure_reason(
    daemon: Client, load_apps: LoadApps
) -> None:
    # Above fs.nr_open: refused to root too, so this runs as anyone.
    load_apps("""
        [apps.greedy]
        cmd = ["/bin/sh", "-c", "exec sleep 600"]
        cwd = "/"
        limits = { nofile = 1073741824 }
    """)
    wait_state(daemon, "greedy", "backoff")
    error = app_instances(daemon, "greedy")[0]["error"]
    assert "limits.nofile: cannot set 1073741824/1073741824" in error


@as_root
def test_a_program_its_user_may_not_run_is_permission_denied(
    daemon: Client, load_apps: LoadApps
) -> None:
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        program = os.path.join(folder, "root-only")
        with open(program, "w") as f:
            f.write("#!/bin/sh\nexec sleep 600\n")
        os.chmod(program, 0o700)  # the daemon (root) may run it; nobody may not
        load_apps(f"""
            [apps.denied]
            cmd = "{program}"
            cwd = "/"
            user = "nobody"
        """)
        wait_state(daemon, "denied", "backoff")
        error = app_instances(daemon, "denied")[0]["error"]
        assert f"{program}: permission denied" in error
    finally:
        shutil.rmtree(folder)


def test_an_unknown_user_is_a_config_error_with_the_others(
    cli: Callable[..., Result], home: str
) -> None:
    path = os.path.join(home, "procward.toml")
    with open(path, "w") as f:
        f.write('[apps.a]\ncmd = "true"\nuser = "no-such-user-x"\nnice = 40\n')
    result = cli("up", "-c", path)
    assert result.code != 0
    assert "apps.a.user: no user 'no-such-user-x' in the user database" in result.err
    assert (
        "apps.a.nice: must be an integer from -20 (most favoured) to 19 (least), got 40"
        in result.err
    )


@as_root
def test_exec_commands_run_as_the_apps_user_with_its_limits(
    daemon: Client, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.job]
        cmd = ["/bin/sh", "-c", "exec sleep 600"]
        cwd = "/"
        user = "nobody"
        limits = { nofile = 777 }
        commands = { who = "sh -c 'id -u; ulimit -n; echo $HOME'" }
    """)
    wait_state(daemon, "job", "running")
    result = daemon.call("exec", name="job", command="who")
    nobody = pwd.getpwnam("nobody")
    assert result["stdout"].split() == [str(nobody.pw_uid), "777", nobody.pw_dir]
    assert result["code"] == 0


@as_root
def test_an_app_with_held_sockets_gets_them_as_its_user(
    daemon: Client, load_apps: LoadApps, port: int
) -> None:
    load_apps(f"""
        [apps.web]
        cmd = ["/bin/sh", "-c", "exec sleep 600"]
        cwd = "/"
        user = "nobody"
        umask = "077"
        sockets = {{ http = "127.0.0.1:{port}" }}
    """)
    wait_state(daemon, "web", "running")
    pid = pid_of(daemon, "web")
    status = status_fields(pid)
    assert status["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
    assert status["Umask"] == "0077"
    assert os.readlink(f"/proc/{pid}/fd/3").startswith("socket:")
    assert not os.path.exists(f"/proc/{pid}/fd/4")  # the shim's status descriptor closed at exec
    assert environ_of(pid)["LISTEN_FDS"] == "1"
