"""Checks of a config against this machine, before anything of it is applied.

``config.py`` checks what a file says; this module checks what the machine
has: the program each app runs, its working directory, and the addresses
the daemon is to hold for it. Without it a typo in a path passed the load,
``procward reload`` said all was well, and the app then failed at every
spawn, restarted with backoff, and ended ``crashed`` — the mistake surfacing
in a log a minute later instead of in the answer to the command.

The program is looked for as the spawn will look for it: a name without a
``/`` on the ``PATH`` of the app's environment, a relative path from its
working directory. A command run through ``/bin/sh -c`` is the shell's to
resolve, so only ``sh`` is checked. Addresses are tried with a bind that is
undone at once, except those the app holds already.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from procward.supervision.spec import AppSpec, ConfigError, Launch, Problem

__all__ = ["check_on_this_machine"]


def check_on_this_machine(
    plans: Iterable[tuple[AppSpec, Launch]], held: dict[str, dict[str, str]]
) -> None:
    """``ConfigError`` with every problem of ``plans`` (instance 0 of each app) here.

    ``held`` is, per app name, the sockets the daemon holds for it now: an
    address an app keeps is not "in use" by someone else.
    """
    problems = []
    found: dict[tuple[str, str], bool] = {}  # 500 apps running `sleep`: one look
    for spec, plan in plans:
        problems += _where_and_what(spec, plan, found)
        kept = held.get(spec.name, {})
        problems += [
            Problem(spec.name, f"sockets.{name}", why)
            for name, address in spec.sockets.items()
            if kept.get(name) != address and (why := _cannot_listen(address)) is not None
        ]
    if problems:
        raise ConfigError(problems)


def _where_and_what(
    spec: AppSpec, plan: Launch, found: dict[tuple[str, str], bool]
) -> list[Problem]:
    cwd = plan.cwd
    if cwd is not None and not os.path.isdir(cwd):
        return [Problem(spec.name, "cwd", f"{cwd} is not a directory")]
    program = plan.argv[0]
    if "/" in program:
        path = os.path.join(cwd or os.getcwd(), program)
        if not os.path.exists(path):
            return [Problem(spec.name, "cmd", f"{program}: no such file")]
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            return [Problem(spec.name, "cmd", f"{program}: not an executable file")]
        return []
    where = plan.env.get("PATH", os.defpath)
    if (program, where) not in found:
        found[program, where] = _on_path(program, where)
    if not found[program, where]:
        return [Problem(spec.name, "cmd", f"{program}: command not found (PATH={where})")]
    return []


def _on_path(program: str, path: str) -> bool:
    """``shutil.which``'s answer, without importing shutil (and with it bz2 and lzma)."""
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return True
    return False


def _cannot_listen(address: str) -> str | None:
    from procward.supervision.process import SpawnError
    from procward.supervision.sockets import HeldSockets

    try:
        HeldSockets({"probe": address}).close()
    except SpawnError as exc:
        return str(exc)
    return None
