"""The environment an app starts with: a clean base, not whatever spawned the daemon.

A daemon started on demand inherits the environment of the shell that
happened to start it: ``FOO=1 procward status`` in one terminal would put
``FOO`` into every app started later from any other. So apps start, as
under systemd or ``env -i``, from a small base that is the same whoever
started the daemon:

- ``HOME``, ``USER``, ``LOGNAME`` and ``SHELL`` of the daemon's user, from
  the user database (the daemon's own values when it has no entry); for an
  app with ``user``, of that user (``accounts.py``; set by the supervisor,
  after ``inherit_env``, so the daemon's never leak into it);
- from the daemon's environment, only what says where programs and files
  are and how to speak: ``PATH`` (``node`` under nvm, a virtualenv's
  ``python``: a fixed PATH would break them), ``LANG``, ``LANGUAGE``,
  ``LC_*``, ``TZ``, ``TMPDIR`` and ``XDG_RUNTIME_DIR``;
- what lets a ``procward`` command run by the app reach the daemon that
  supervises it: ``PROCWARD_INSTANCE`` (the daemon's instance name, not the
  app's index), ``PROCWARD_HOME`` and ``XDG_STATE_HOME`` when set, and
  ``PROCWARD_DAEMON`` (the daemon's state directory, which also marks the
  process as one of its own after a crash);

then the app's ``env_file`` and ``env``, then ``PROCWARD_APP`` and
``PROCWARD_INDEX``. An app that wants more says so: ``inherit_env = true``
(everything the daemon has) or ``inherit_env = ["VIRTUAL_ENV", "AWS_PROFILE"]``
(those too, when the daemon has them). ``procward env APP`` shows the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["DAEMON_ONLY", "KEPT", "base_for", "clean_base", "daemon_pointer"]

KEPT = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"})
_USER_VARS = ("HOME", "USER", "LOGNAME", "SHELL")
# Ours, from a service manager, and the secret store's key: never an app's, even with
# inherit_env = true (an app given the key could read every secret, not just its own).
DAEMON_ONLY = frozenset(
    {
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "PROCWARD_SECRETS_KEY",
        "PROCWARD_SECRETS_KEY_COMMAND",
    }
)


def clean_base(environ: Mapping[str, str]) -> dict[str, str]:
    """The base every app starts from, given the daemon's own environment."""
    base = {k: v for k, v in environ.items() if k in KEPT or k.startswith("LC_")}
    base.update(_user_vars(environ))
    return base


def daemon_pointer(environ: Mapping[str, str], *, prefix: str, instance: str) -> dict[str, str]:
    """What a ``procward`` command run by an app needs to find the daemon that runs it."""
    pointer = {f"{prefix}_INSTANCE": instance}
    for name in (f"{prefix}_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
        if environ.get(name):
            pointer[name] = environ[name]
    return pointer


def _user_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """HOME, USER, LOGNAME and SHELL of the user the daemon runs as."""
    import pwd

    try:
        entry = pwd.getpwuid(os.geteuid())
    except KeyError:  # a uid with no entry (containers): what the daemon was given
        return {k: environ[k] for k in _USER_VARS if k in environ}
    return {
        "HOME": entry.pw_dir,
        "USER": entry.pw_name,
        "LOGNAME": entry.pw_name,
        "SHELL": entry.pw_shell or "/bin/sh",
    }


def base_for(
    inherit: bool | tuple[str, ...], clean: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    """The base of an app with ``inherit_env = inherit``: clean, all, or clean plus names."""
    names = environ.keys() if inherit is True else inherit or ()
    base = dict(clean)
    base.update((k, environ[k]) for k in names if k in environ and k not in DAEMON_ONLY)
    return base
