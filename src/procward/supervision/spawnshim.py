"""Apply an app's limits and identity, then exec it: the program starts with them all.

Run by the daemon (``confinement.shim_argv``) as

    python -I -S .../spawnshim.py SETTING... -- PROGRAM ARG...

for an app with ``user``, ``group``, ``umask``, ``limits``, ``nice`` or
``oom_score_adj``. Why a program of its own: ``posix_spawn`` can neither
``setuid`` nor ``setrlimit``; ``Popen`` can change users in C but not
limits, nice or the OOM score; and ``preexec_fn`` runs Python in the fork
of a threaded daemon, where a lock another thread held stays held for good.
A fresh interpreter has no other thread. It ``exec``s, so the pid the daemon
watches is the program's, and the program starts with everything applied:
nothing races it.

Stdlib only and standalone: ``-I`` keeps the script's directory and the
environment's ``PYTHON*`` out, ``-S`` skips ``site``; nothing of procward is
imported, so the daemon's package may even be half-upgraded under it.

Order: limits, ``oom_score_adj`` and nice first, while the process may still
be root (raising a hard limit, lowering the OOM score and a negative nice
need it); then supplementary groups, group and user (the user last: after
it, nothing privileged is possible); then the umask; then exec.

Settings are words (``Settings``), not JSON: ``import json`` pulls in ``re``,
milliseconds of every such spawn.

How a failure reaches the daemon: ``status=FD`` names a descriptor, made
close-on-exec here at once. The daemon reads it until EOF: an exec that
worked closes it with nothing written; anything that fails writes one line,
``fail <text>`` or ``exec <errno>`` (the daemon words those as for any
other spawn), and the shim exits with ``FAILED``.
"""

from __future__ import annotations

import os
import resource
import sys
import warnings  # noqa: F401 - os.execvpe's PATH lookup imports it: while the stdlib is readable

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported when run: each import is start-up time
    from collections.abc import Mapping

FAILED = 127


class Failed(Exception):
    """A setting could not be applied; the message says which and why, for people."""


class Settings:
    """The words before ``--``: ``status=FD``, ``limit=NAME:SOFT:HARD`` (repeated),
    ``oom_score_adj=N``, ``nice=N``, ``uid=N``, ``gid=N``, ``groups=N,N``,
    ``umask=N`` (decimal), and ``lc_ctype=VALUE`` or ``lc_ctype`` alone (the app had none).
    """

    def __init__(self) -> None:
        self.status = -1
        self.limits: list[tuple[str, int, int]] = []
        self.oom_score_adj: int | None = None
        self.nice: int | None = None
        self.uid: int | None = None
        self.gid: int | None = None
        self.groups: list[int] = []
        self.umask: int | None = None
        self.lc_ctype: tuple[str | None] | None = None  # None: leave it; (None,): unset it

    def read(self, word: str) -> None:
        key, sep, value = word.partition("=")
        if key == "limit":
            name, soft, hard = value.split(":")
            self.limits.append((name, int(soft), int(hard)))
        elif key == "groups":
            self.groups = [int(g) for g in value.split(",") if g]
        elif key == "lc_ctype":
            self.lc_ctype = (value if sep else None,)
        elif key in ("status", "oom_score_adj", "nice", "uid", "gid", "umask"):
            setattr(self, key, int(value))
        else:
            raise Failed(f"unknown setting {word!r}")


def split_argv(args: list[str]) -> tuple[Settings, list[str]]:
    """``SETTING... -- PROGRAM ARG...`` into the settings and the program's argv."""
    if "--" not in args or args.index("--") == len(args) - 1:
        raise Failed("usage: spawnshim.py [SETTING...] -- PROGRAM [ARG...]")
    split = args.index("--")
    settings = Settings()
    for word in args[:split]:
        settings.read(word)
    return settings, args[split + 1 :]


def apply_limits(limits: list[tuple[str, int, int]]) -> None:
    """``(resource, soft, hard)`` each; -1 is unlimited."""
    for name, soft, hard in limits:
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        pair = (_rlim(soft), _rlim(hard))
        try:
            resource.setrlimit(which, pair)
        except (OSError, ValueError) as exc:
            why = _reason(exc)
            hint = " (raising a hard limit needs root: CAP_SYS_RESOURCE)" if _denied(exc) else ""
            raise Failed(
                f"limits.{name}: cannot set {_show(soft)}/{_show(hard)}: {why}{hint}"
            ) from None


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value == -1 else value


def _show(value: int) -> str:
    return "unlimited" if value == -1 else str(value)


def apply_oom_score_adj(value: int) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as exc:
        hint = " (lowering it needs root: CAP_SYS_RESOURCE)" if _denied(exc) else ""
        raise Failed(f"oom_score_adj: cannot set {value}: {_reason(exc)}{hint}") from None


def apply_nice(value: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, value)
    except OSError as exc:
        hint = " (a nice below the daemon's needs root: CAP_SYS_NICE)" if _denied(exc) else ""
        raise Failed(f"nice: cannot set {value}: {_reason(exc)}{hint}") from None


def become(uid: int, gid: int, groups: list[int]) -> None:
    """Groups, group, then user: as ``initgroups`` + ``setgid`` + ``setuid``."""
    try:
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    except OSError as exc:
        raise Failed(f"user: cannot become uid {uid}, gid {gid}: {_reason(exc)}") from None


def _denied(exc: Exception) -> bool:
    return isinstance(exc, PermissionError) or (
        isinstance(exc, ValueError) and "not allowed" in str(exc)
    )


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def apply(settings: Settings) -> None:
    """Every setting, in the order the module's docstring gives."""
    apply_limits(settings.limits)
    if settings.oom_score_adj is not None:
        apply_oom_score_adj(settings.oom_score_adj)
    if settings.nice is not None:
        apply_nice(settings.nice)
    if settings.uid is not None:
        gid = settings.gid if settings.gid is not None else os.getgid()
        become(settings.uid, gid, settings.groups)
    if settings.umask is not None:
        os.umask(settings.umask)


def program_env(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The app's environment, as the daemon gave it.

    Python coerces a C locale by setting LC_CTYPE (PEP 538), even under
    ``-I``: the daemon says what the app had (``lc_ctype``).
    """
    env = dict(environ)
    if settings.lc_ctype is not None:
        (lc_ctype,) = settings.lc_ctype
        if lc_ctype is None:
            env.pop("LC_CTYPE", None)
        else:
            env["LC_CTYPE"] = lc_ctype
    return env


def main(args: list[str]) -> None:
    status = -1
    argv: list[str] = []
    settings = Settings()
    try:
        settings, argv = split_argv(args)
        status = settings.status
        if status >= 0:
            os.set_inheritable(status, False)  # closed by the exec: EOF means it worked
        apply(settings)
    except (Failed, ValueError, OSError) as exc:
        _fail(status, f"fail {exc}")
    try:
        os.execvpe(argv[0], argv, program_env(settings, os.environ))
    except OSError as exc:
        _fail(status, f"exec {exc.errno or 0}")
    except Exception as exc:  # a bug here must still reach the daemon as a reason
        _fail(status, f"fail {type(exc).__name__}: {exc}")


def _fail(status: int, line: str) -> None:
    text = " ".join(line.split()) + "\n"
    try:
        os.write(status, text.encode("utf-8", "replace"))
    except OSError:  # no daemon to tell: the log of the app hears it
        sys.stderr.write(f"procward: {text}")
    os._exit(FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
