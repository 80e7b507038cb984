"""``limits``, ``nice`` and ``oom_score_adj``: the readers of an app's resource settings.

``limits = { nofile = 65536, core = 0, memlock = "64MB", nproc = [256, 512] }``
sets each resource's soft and hard limit (``setrlimit``) before the program
starts (``spawnshim.py``). A value is a number, ``"unlimited"``, a size like
``"64MB"`` for a resource counted in bytes, or ``[soft, hard]``; one value
sets both, as systemd's ``LimitNOFILE=`` does. ``-1`` stands for unlimited
in the checked form (``AppSpec.limits``), as ``RLIM_INFINITY`` does in
Python's ``resource``.
"""

from __future__ import annotations

from collections.abc import Mapping

from procward.supervision.values import Nested, did_you_mean, read_size, show

__all__ = ["BYTES", "RESOURCES", "UNLIMITED", "read_limits", "read_nice", "read_oom_score_adj"]

UNLIMITED = -1
# Linux's resources (``man 2 setrlimit``); those counted in bytes take sizes.
BYTES = frozenset({"as", "core", "data", "fsize", "memlock", "msgqueue", "rss", "stack"})
RESOURCES = (
    *sorted(BYTES),
    *("cpu", "locks", "nice", "nofile", "nproc", "rtprio", "rttime", "sigpending"),
)
_MAX = 2**63 - 1  # what rlim_t holds (RLIM_INFINITY aside)


def read_limits(value: object, _base_dir: str) -> dict[str, tuple[int, int]]:
    """``{resource: (soft, hard)}``; every problem at once, located by resource."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table like {{ nofile = 65536, core = 0 }}, got {show(value)}")
    found: dict[str, tuple[int, int]] = {}
    problems: list[tuple[str, str]] = []
    for name, item in value.items():
        if name not in RESOURCES:
            message = f"unknown resource{did_you_mean(name, RESOURCES)}; the resources are: "
            problems.append((name, message + ", ".join(RESOURCES)))
            continue
        try:
            found[name] = _pair(name, item)
        except ValueError as e:
            problems.append((name, str(e)))
    if problems:
        raise Nested(problems)
    return found


def _pair(name: str, value: object) -> tuple[int, int]:
    if not isinstance(value, list):
        one = _one(name, value)
        return one, one
    if len(value) != 2:
        raise ValueError(f"must be one value or [soft, hard], got an array of {len(value)}")
    soft, hard = _one(name, value[0]), _one(name, value[1])
    if hard != UNLIMITED and (soft == UNLIMITED or soft > hard):
        raise ValueError(
            f"the soft limit {show(value[0])} is above the hard limit {show(value[1])}"
        )
    return soft, hard


def _one(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX:
        return value
    if isinstance(value, str) and value.strip().lower() in ("unlimited", "infinity"):
        return UNLIMITED
    if isinstance(value, str) and name in BYTES:
        try:
            return read_size(value)
        except ValueError:
            pass
    size = ", a size like '64MB'" if name in BYTES else ""
    raise ValueError(f"must be a number >= 0, 'unlimited'{size} or [soft, hard], got {show(value)}")


def read_nice(value: object, _base_dir: str) -> int:
    """-20 (first served) to 19 (last), as ``nice``; below the daemon's needs root."""
    return _in_range(value, -20, 19, "-20 (most favoured) to 19 (least)")


def read_oom_score_adj(value: object, _base_dir: str) -> int:
    """-1000 (never killed for memory) to 1000 (first killed); lowering it needs root."""
    return _in_range(value, -1000, 1000, "-1000 (never chosen) to 1000 (chosen first)")


def _in_range(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise ValueError(f"must be an integer from {what}, got {show(value)}")
