"""The daemon's side of ``spawnshim.py``: what it applies, and whether the exec worked.

An app with ``user``, ``group``, ``umask``, ``limits``, ``nice`` or
``oom_score_adj`` is started as ``python -I -S spawnshim.py SETTING... --
ARGV`` (``shim_argv``), which applies them and execs the program; every
other app keeps the direct spawn, untouched (decision 0038 has the cost).

``process.spawn`` gives the shim the write end of a pipe and waits for its
end of it (``wait_exec``) before calling the spawn done: EOF means the
program runs (the descriptor closes at the exec); a line means it never
started and says why, so that a setting that cannot be applied (a hard
limit above the daemon's, a negative nice without CAP_SYS_NICE) or a
program the user may not run is a spawn failure naming it, like a bad
env_file, rather than an exit status 127 in the app's history. (A user
gone from the user database is found before, by the daemon: accounts.py.)
The wait blocks the loop for the shim's start-up, about 20 ms here (0038),
as ``Popen`` already blocks for its own exec.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from procward.supervision.spec import Confinement

if TYPE_CHECKING:
    from procward.supervision.accounts import Account
    from procward.supervision.spec import AppSpec

__all__ = ["SHIM", "Confinement", "for_spec", "shim_argv", "wait_exec"]

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawnshim.py")
EXEC_DEADLINE = 10.0  # seconds for the shim to exec; past it, it is taken to run


def for_spec(
    spec: AppSpec, account: Account | None, *, euid: int | None = None
) -> Confinement | None:
    """What a process of ``spec`` must have applied; None for an app that sets nothing.

    The identity is changed only by a root daemon (``account`` is the
    resolved ``user``); one that is not root runs its apps as itself, which
    is what such an app's ``user`` names (config.py refuses anything else).
    """
    root = (os.geteuid() if euid is None else euid) == 0
    become = account if account is not None and root else None
    confine = Confinement(
        uid=become.uid if become else None,
        gid=become.gid if become else None,
        groups=become.groups if become else (),
        umask=spec.umask,
        limits=tuple((name, soft, hard) for name, (soft, hard) in spec.limits.items()),
        nice=spec.nice,
        oom_score_adj=spec.oom_score_adj,
    )
    return None if confine == Confinement() else confine


def shim_argv(
    confine: Confinement, argv: tuple[str, ...], env: Mapping[str, str], status_fd: int
) -> tuple[str, ...]:
    """The command line that starts ``argv`` through the shim, told to report on ``status_fd``."""
    words = [f"status={status_fd}"]
    words += [f"limit={name}:{soft}:{hard}" for name, soft, hard in confine.limits]
    for key in ("oom_score_adj", "nice", "uid", "gid", "umask"):
        if (value := getattr(confine, key)) is not None:
            words.append(f"{key}={value}")
    if confine.uid is not None:
        words.append("groups=" + ",".join(str(g) for g in confine.groups))
    # Python coerces a C locale by setting LC_CTYPE (PEP 538): put back what the app had.
    words.append(f"lc_ctype={env['LC_CTYPE']}" if "LC_CTYPE" in env else "lc_ctype")
    return (sys.executable, "-I", "-S", SHIM, *words, "--", *argv)


def wait_exec(fd: int, deadline: float = EXEC_DEADLINE) -> str | None:
    """What the shim said on ``fd`` (``fail <text>`` or ``exec <errno>``); None once it exec'd."""
    data = b""
    end = time.monotonic() + deadline
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    text = data.decode("utf-8", "replace").strip()
    return text or None
