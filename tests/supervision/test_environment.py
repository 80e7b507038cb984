"""The clean base of an app's environment (supervision/environment.py)."""

from __future__ import annotations

import os
import pwd

from procward.supervision.environment import base_for, clean_base, daemon_pointer

SHELL_ENV = {
    "PATH": "/venv/bin:/usr/bin",
    "LANG": "C.UTF-8",
    "LC_TIME": "en_GB.UTF-8",
    "TZ": "Europe/Paris",
    "HOME": "/somewhere/else",
    "FOO": "1",
    "VIRTUAL_ENV": "/venv",
    "PYTHONPATH": "/leak",
    "NOTIFY_SOCKET": "/run/systemd/notify",
    "LISTEN_FDS": "1",
    "PROCWARD_HOME": "/tmp/pw",
}


def test_the_clean_base_keeps_paths_locale_and_the_user_from_the_user_database() -> None:
    base = clean_base(SHELL_ENV)
    me = pwd.getpwuid(os.geteuid())
    assert base == {
        "PATH": "/venv/bin:/usr/bin",
        "LANG": "C.UTF-8",
        "LC_TIME": "en_GB.UTF-8",
        "TZ": "Europe/Paris",
        "HOME": me.pw_dir,
        "USER": me.pw_name,
        "LOGNAME": me.pw_name,
        "SHELL": me.pw_shell or "/bin/sh",
    }


def test_inherit_env_true_passes_everything_but_the_service_managers_variables() -> None:
    base = base_for(True, clean_base(SHELL_ENV), SHELL_ENV)
    assert base["FOO"] == "1" and base["PYTHONPATH"] == "/leak"
    assert base["HOME"] == "/somewhere/else"  # the daemon's own, as supervisord would
    assert "NOTIFY_SOCKET" not in base and "LISTEN_FDS" not in base


def test_inherit_env_names_pass_those_that_exist() -> None:
    clean = clean_base(SHELL_ENV)
    base = base_for(("VIRTUAL_ENV", "MISSING", "NOTIFY_SOCKET"), clean, SHELL_ENV)
    assert base == {**clean, "VIRTUAL_ENV": "/venv"}
    assert base_for(False, clean, SHELL_ENV) == clean


def test_the_pointer_to_the_daemon_names_its_instance_and_home() -> None:
    pointer = daemon_pointer(SHELL_ENV, prefix="PROCWARD", instance="web-1")
    assert pointer == {"PROCWARD_INSTANCE": "web-1", "PROCWARD_HOME": "/tmp/pw"}
    runtime = {"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/s"}
    assert daemon_pointer(runtime, prefix="PROCWARD", instance="default") == {
        "PROCWARD_INSTANCE": "default",
        **runtime,
    }
