"""The daemon's side of ``spawnshim.py``: what it applies, and whether the exec worked.

An app with ``user``, ``group``, ``umask``, ``limits``, ``nice`` or
``oom_score_adj`` is started as ``python -I -S spawnshim.py SETTING... --
ARGV`` (``shim_argv``), which applies them and execs the program; every
other app keeps the direct spawn, untouched (decision 0038 has the cost).

``process.spawn`` gives the shim the write end of a pipe and keeps the read
end as the child's ``ExecReport``, which the instance reads as the loop
lets it, never waiting: EOF means the program runs (the descriptor closes
at the exec); a line means it never started and says why, and the shim
exits, so that a setting that cannot be applied (a hard limit above the
daemon's, a negative nice without CAP_SYS_NICE) or a program the user may
not run is the reason of that exit, like a bad env_file, rather than an
exit status 127 in the app's history. (A user gone from the user database
is found before, by the daemon: accounts.py.) Until 2026-12-03 the daemon
waited for that word at the spawn: its loop blocked for the shim's
start-up, ~20 ms, at every spawn of such an app (and a grace period of the
kernel more where the child joins a cgroup first).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from procward.supervision.spec import Confinement

if TYPE_CHECKING:
    from procward.supervision.accounts import Account
    from procward.supervision.spec import AppSpec

__all__ = ["SHIM", "Confinement", "ExecReport", "for_spec", "shim_argv"]

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawnshim.py")
MAX_SAID = 4096  # bytes of a shim's reason kept


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


class ExecReport:
    """The shim's word on one spawn, taken as it comes (decision 0038).

    ``explain(errno)`` words an exec that failed as the spawn of any app
    would (``process._explain``). At most ``MAX_SAID`` bytes are kept.
    """

    def __init__(self, fd: int, explain: Callable[[int], str]) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._explain = explain
        self._said = b""

    def read(self) -> bool:
        """Take what is there; True once all of it is in (the shim exec'd or exited)."""
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            self._said = (self._said + chunk)[:MAX_SAID]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def failure(self) -> str | None:
        """Why the program never ran, if the shim said so; None if it ran."""
        said = self._said.decode("utf-8", "replace").strip()
        if not said:
            return None
        kind, _, text = said.partition(" ")
        if kind == "exec" and text.isdigit():
            return self._explain(int(text))
        return text if kind == "fail" else said
