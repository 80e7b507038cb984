"""``[daemon.cluster]`` and an app's ``placement``: read and checked, nothing run.

A file either turns the fleet on (``enabled = true``) with every setting
valid, or is refused with each problem at its key, like the rest of
``config.py``. The values are checked here, where the file is read; what
needs the daemon (a ``secret:NAME`` password, the ``redis`` package) is
resolved when the fleet starts (``procward.fleet.connection``), so loading
a file never opens a socket.

An app with ``placement`` in a file without an enabled cluster is refused
(decision 0048): running it on every machine that loads the file would
silently turn "one copy somewhere" into "one copy per machine".
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

from procward.kit._structs import Struct, field
from procward.supervision.values import (
    Nested,
    read_count,
    read_duration,
    read_flag,
    read_path,
    read_table,
    show,
)

__all__ = ["ClusterSettings", "Placement", "read_cluster", "read_placement"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
MAX_LABELS = 32


class Placement(Struct):
    """``placement = { count = 1, labels = { role = "web" } }``."""

    count: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)


class ClusterSettings(Struct):
    """One daemon's ``[daemon.cluster]`` table (docs/fleet.md)."""

    enabled: bool = False
    redis: str = "redis://127.0.0.1:6379/0"
    name: str = "default"  # the cluster's name: its keys in Redis start with it
    node: str = field(default_factory=socket.gethostname)
    advertise: str | None = None  # host:port of this daemon's TCP listener
    labels: Mapping[str, str] = field(default_factory=dict)
    heartbeat: float = 2.0
    offline_after: float = 90.0
    election_timeout: tuple[float, float] = (5.0, 15.0)
    on_partition: str = "keep"  # or "stop": placed apps stop when Redis is lost
    key_file: str | None = None  # the fleet's shared signing key (0600)
    password: str | None = None  # "secret:NAME", "${VAR}" or the text: resolved at start
    source: str | None = None  # the file it came from


def read_cluster(daemon: object, base_dir: str) -> ClusterSettings | None:
    """The ``[daemon]`` table's ``cluster``; None when absent. ``Nested`` on problems."""
    if not isinstance(daemon, Mapping):
        raise ValueError(f"must be a table, got {show(daemon)}")
    problems = [
        (key, "unknown key; [daemon] has only cluster") for key in daemon if key != "cluster"
    ]
    if "cluster" not in daemon:
        if problems:
            raise Nested(problems)
        return None
    try:
        found = read_table(daemon["cluster"], _READERS, base_dir, where="[daemon.cluster]")
    except Nested as e:
        raise Nested(problems + [(f"cluster.{k}", message) for k, message in e.problems]) from None
    except ValueError as e:
        raise Nested([*problems, ("cluster", str(e))]) from None
    if problems:
        raise Nested(problems)
    settings = ClusterSettings(**found)  # type: ignore[arg-type]
    if settings.offline_after < 2 * settings.heartbeat:
        problems.append(("cluster.offline_after", "must be at least twice the heartbeat"))
    if settings.election_timeout[0] < settings.heartbeat:
        problems.append(("cluster.election_timeout", "must start at or above the heartbeat"))
    if problems:
        raise Nested(problems)
    return settings


def read_placement(value: object, _base_dir: str) -> Placement:
    found: dict[str, Any] = read_table(value, _PLACEMENT, _base_dir, where="placement")
    if found.get("count", 1) < 1:
        raise Nested([("count", f"must be an integer >= 1, got {show(value['count'])}")])  # type: ignore[index]
    return Placement(**found)


def _labels(value: object, _base_dir: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of name = "value", got {show(value)}')
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels, got {len(value)}")
    problems = []
    for key, item in value.items():
        if not NAME.fullmatch(key):
            problems.append((key, "is not a label name: 1-64 letters, digits, '_', '-', '.'"))
        elif not isinstance(item, str) or not 0 < len(item) <= 200 or not item.isprintable():
            problems.append(
                (key, f"must be a printable string of 1-200 characters, got {show(item)}")
            )
    if problems:  # one message: labels sit inside a table that read_table reports
        raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
    return dict(value)


def _name(value: object, _base_dir: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError(
            f"must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit, "
            f"got {show(value)}"
        )
    return value


def _redis_url(value: object, _base_dir: str) -> str:
    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f'must be a URL like "redis://host:6379/0" or "rediss://..." (TLS), got {show(value)}'
        )
    return value


def _advertise(value: object, _base_dir: str) -> str:
    if isinstance(value, str):
        host, _, port = value.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return value
    raise ValueError(f'must be "host:port" of this daemon\'s TCP listener, got {show(value)}')


def _positive(value: object, base_dir: str) -> float:
    seconds = read_duration(value, base_dir)
    if seconds <= 0:
        raise ValueError(f"must be more than 0s, got {show(value)}")
    return seconds


def _election(value: object, base_dir: str) -> tuple[float, float]:
    """``"5s-15s"`` or ``[5, 15]``: the range a follower's timeout is drawn from."""
    parts: list[object]
    if isinstance(value, str) and "-" in value:
        parts = list(value.split("-", 1))
    elif isinstance(value, list) and len(value) == 2:
        parts = list(value)
    else:
        raise ValueError(f'must be a range like "5s-15s" or [5, 15], got {show(value)}')
    low, high = (_positive(part, base_dir) for part in parts)
    if high < low:
        raise ValueError(f"the range must not end before it starts, got {show(value)}")
    return low, high


def _on_partition(value: object, _base_dir: str) -> str:
    if value not in ("keep", "stop"):
        raise ValueError(f'must be "keep" or "stop", got {show(value)}')
    return str(value)


def _password(value: object, _base_dir: str) -> str:
    """``"secret:NAME"`` (the secret store), ``"${VAR}"`` (the daemon's environment), or text."""
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ValueError(
            f'must be "secret:NAME", "${{VARIABLE}}" or the password itself, got {show(value)}'
        )
    if value.startswith("secret:") and not NAME.fullmatch(value[len("secret:") :]):
        raise ValueError(f"names no valid secret, got {show(value)}")
    return value


_READERS: dict[str, Callable[[object, str], object]] = {
    "enabled": read_flag,
    "redis": _redis_url,
    "name": _name,
    "node": _name,
    "advertise": _advertise,
    "labels": _labels,
    "heartbeat": _positive,
    "offline_after": _positive,
    "election_timeout": _election,
    "on_partition": _on_partition,
    "key_file": read_path,
    "password": _password,
}

_PLACEMENT: dict[str, Callable[[object, str], object]] = {
    "count": read_count,
    "labels": _labels,
}
