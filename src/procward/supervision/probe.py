"""Readiness and health probes as the config states them: what to check, how often.

Two optional tables of an app use them::

    [apps.web.ready]              # when is a new instance serving?
    http = "http://127.0.0.1:8000/healthz"
    start_timeout = "30s"         # not ready by then: the start failed

    [apps.web.health]             # is a running instance still well?
    tcp = "127.0.0.1:$PORT"
    interval = "10s"
    timeout = "2s"
    failures = 3                  # consecutive failed checks, then a restart

A probe is exactly one of:

- ``tcp = "host:port"`` (or a bare port, on 127.0.0.1): a connection is accepted;
- ``http = "http://host[:port]/path"``: a GET is answered 2xx or 3xx;
- ``exec = "cmd"`` (or an array): the command exits 0; it runs with the
  instance's environment and directory, in a process group of its own;
- ``notify = true`` (readiness only): the instance sends ``READY=1`` to
  ``$NOTIFY_SOCKET``, as a systemd ``Type=notify`` service does;
- ``delay = "2s"`` (readiness only): ready once it has run that long.

Targets and exec arguments expand ``{instance}`` and ``$VAR`` from the
instance's environment exactly as ``cmd`` does, so instances listening on
their own ports (``env.PORT = "800{instance}"``) are each probed on theirs.

Readiness attempts start 20 ms after the spawn and double up to
``interval``: a service ready in 50 ms is seen within a few milliseconds of
it, one that needs a minute costs one attempt a second. This module is pure;
``health.py`` runs the checks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from procward.kit._durations import format_duration
from procward.kit._structs import Struct, replace
from procward.supervision.values import (
    read_cmd,
    read_count,
    read_duration,
    read_flag,
    read_table,
    show,
)

__all__ = [
    "Address",
    "Probe",
    "ProbeKind",
    "http_address",
    "read_health",
    "read_ready",
    "ready_delay",
    "tcp_address",
    "why_it_cannot_judge",
]

FIRST_READY_ATTEMPT = 0.02  # seconds after the spawn


class ProbeKind(enum.StrEnum):
    TCP = "tcp"
    HTTP = "http"
    EXEC = "exec"
    NOTIFY = "notify"
    DELAY = "delay"


HEALTH_KINDS = (ProbeKind.TCP, ProbeKind.HTTP, ProbeKind.EXEC)
READY_KINDS = tuple(ProbeKind)


class Probe(Struct):
    kind: ProbeKind
    target: str = ""  # tcp: "host:port"; http: the URL; may hold {instance} and $VAR
    argv: tuple[str, ...] = ()  # exec
    delay: float = 0.0  # delay
    timeout: float = 1.0  # one attempt
    interval: float = 1.0  # between checks (readiness: the longest gap)
    failures: int = 3  # health: consecutive failed checks before a restart
    start_timeout: float = 30.0  # readiness: not ready by then and the start failed

    @property
    def describe(self) -> str:
        """For people: ``tcp 127.0.0.1:8000``, ``exec ./check --quick``, ``notify``."""
        if self.kind is ProbeKind.EXEC:
            return "exec " + " ".join(self.argv)
        if self.kind is ProbeKind.DELAY:
            return f"delay {format_duration(self.delay)}"
        if self.kind is ProbeKind.NOTIFY:
            return "notify"
        return f"{self.kind.value} {self.target}"

    def to_table(self, *, health: bool) -> dict[str, Any]:
        """The ``ready``/``health`` table that ``read_ready``/``read_health`` read back."""
        table: dict[str, Any] = {}
        if self.kind is ProbeKind.EXEC:
            table["exec"] = list(self.argv)
        elif self.kind is ProbeKind.DELAY:
            table["delay"] = self.delay
        elif self.kind is ProbeKind.NOTIFY:
            table["notify"] = True
        else:
            table[self.kind.value] = self.target
        table |= {"timeout": self.timeout, "interval": self.interval}
        if health:
            table["failures"] = self.failures
        else:
            table["start_timeout"] = self.start_timeout
        return table


def ready_delay(attempt: int, interval: float) -> float:
    """Seconds before readiness attempt ``attempt`` (0-based) after the previous one."""
    growing = FIRST_READY_ATTEMPT * float(2 ** min(attempt, 30))
    return min(growing, max(interval, FIRST_READY_ATTEMPT))


# -- addresses -------------------------------------------------------------------


class Address(Struct):
    host: str
    port: int
    path: str = "/"  # http only: path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


def tcp_address(text: str) -> Address:
    """``"127.0.0.1:8000"``, ``"[::1]:8000"``, ``"localhost:8000"`` or ``"8000"``."""
    text = text.strip()
    if text.isdigit():
        return Address("127.0.0.1", _port(text, text))
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"must be 'host:port' or a port number, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Address(host, _port(port, text))


def http_address(url: str) -> Address:
    """``http://host[:port]/path?query``; https is refused with the reason."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        raise ValueError(f"must be a URL like 'http://127.0.0.1:8000/healthz', got {url!r}")
    if scheme.lower() == "https":
        raise ValueError(
            f"https is not supported for probes (the daemon runs without TLS), got {url!r}; "
            "probe the app's plain HTTP port on 127.0.0.1"
        )
    if scheme.lower() != "http":
        raise ValueError(f"must be an http:// URL, got {url!r}")
    netloc, slash, path = rest.partition("/")
    path = slash + path if slash else "/"
    if "@" in netloc or not netloc:
        raise ValueError(f"must name a host (no user or password), got {url!r}")
    if netloc.endswith("]") or ":" not in netloc:
        return Address(netloc.strip("[]"), 80, path)
    host, _, port = netloc.rpartition(":")
    return Address(host.strip("[]"), _port(port, url), path)


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"port must be a number from 1 to 65535, in {whole!r}")
    return int(text)


def _templated(text: str) -> bool:
    """Checked at each probe instead: the address depends on the instance."""
    return "$" in text or "{instance}" in text


# -- can it judge the new process? ------------------------------------------------

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def why_it_cannot_judge(
    probe: Probe, sockets: Mapping[str, str], *, surge: bool, target: str | None = None
) -> str | None:
    """Why ``probe`` cannot tell whether a *new* process is ready, or None if it can.

    Readiness gates a reload: the old process is stopped (or the next
    instance touched) once the new one is ready. A tcp or http probe on an
    address the daemon holds for the app is answered by whichever process
    of the app accepts first, old or sibling; with ``reload = "surge"`` the
    new process runs beside the old one of the same index, so any tcp or
    http address may be the old one's. Either way a broken new version
    would be declared ready. ``target`` is the probe's address as expanded
    for one instance (at spawn); by default the address as written.
    """
    if probe.kind not in (ProbeKind.TCP, ProbeKind.HTTP):
        return None
    alternatives = "use notify (the app sends READY=1), exec or delay"
    if surge:
        return (
            f'with reload = "surge" the new process starts beside the old one of the same '
            f"index, so a {probe.kind.value} probe may be answered by the old process; "
            f"{alternatives}"
        )
    text = probe.target if target is None else target
    if _templated(text):
        return None  # checked at each spawn, once expanded
    reached = tcp_address(text) if probe.kind is ProbeKind.TCP else http_address(text)
    for name, held in sockets.items():
        if _same_listener(reached, held):
            return (
                f"{text} is the app's held socket {name!r}, which every process of the app "
                "answers, so it cannot tell whether the new one is ready; "
                f"{alternatives}, or probe an address each process listens on itself"
            )
    return None


def _same_listener(reached: Address, held: str) -> bool:
    if held.startswith(("/", "unix:")):
        return False
    try:
        bound = tcp_address(held)
    except ValueError:
        return False
    if bound.port != reached.port:
        return False
    hosts = {bound.host, reached.host}
    return bound.host in _WILDCARDS or len(hosts) == 1 or hosts <= _LOOPBACK


# -- reading the config -----------------------------------------------------------


def _read_target(check: Callable[[str], Address]) -> Callable[[object, str], str]:
    def read(value: object, _base_dir: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {show(value)}")
        if not _templated(value):
            check(value)
        return value

    return read


def _read_notify(value: object, base_dir: str) -> bool:
    if not read_flag(value, base_dir):
        raise ValueError("must be true (leave it out for no notify probe)")
    return True


def _read_failures(value: object, base_dir: str) -> int:
    count = read_count(value, base_dir)
    if count < 1:
        raise ValueError(f"must be an integer >= 1, got {show(value)}")
    return count


def _read_positive(value: object, base_dir: str) -> float:
    seconds = read_duration(value, base_dir)
    if seconds <= 0:
        raise ValueError(f"must be longer than 0s, got {show(value)}")
    return seconds


_KIND_READERS: dict[str, Callable[[object, str], object]] = {
    "tcp": _read_target(tcp_address),
    "http": _read_target(http_address),
    "exec": read_cmd,
    "notify": _read_notify,
    "delay": read_duration,
}
_COMMON = {"timeout": _read_positive, "interval": _read_positive}
_READY_READERS = {**_KIND_READERS, **_COMMON, "start_timeout": _read_positive}


def _ready_only(value: object, base_dir: str) -> object:
    raise ValueError("is for [ready] only: a running instance is checked with tcp, http or exec")


_HEALTH_READERS = {
    **{k: r for k, r in _KIND_READERS.items() if ProbeKind(k) in HEALTH_KINDS},
    **_COMMON,
    "failures": _read_failures,
    "notify": _ready_only,
    "delay": _ready_only,
}
_HEALTH_DEFAULTS = Probe(ProbeKind.TCP, timeout=2.0, interval=10.0)
_READY_DEFAULTS = Probe(ProbeKind.TCP, timeout=1.0, interval=1.0)


def read_ready(value: object, base_dir: str) -> Probe:
    """The ``ready`` table of an app; ``Nested`` problems located by sub-key."""
    return _read_probe(
        value, base_dir, readers=_READY_READERS, kinds=READY_KINDS, defaults=_READY_DEFAULTS
    )


def read_health(value: object, base_dir: str) -> Probe:
    """The ``health`` table of an app; ``Nested`` problems located by sub-key."""
    return _read_probe(
        value, base_dir, readers=_HEALTH_READERS, kinds=HEALTH_KINDS, defaults=_HEALTH_DEFAULTS
    )


def _read_probe(
    value: object,
    base_dir: str,
    *,
    readers: Mapping[str, Callable[[object, str], object]],
    kinds: tuple[ProbeKind, ...],
    defaults: Probe,
) -> Probe:
    where = "health" if kinds == HEALTH_KINDS else "ready"
    if not isinstance(value, Mapping):
        listed = ", ".join(kinds)
        raise ValueError(f"must be a table with one of {listed}, got {show(value)}")
    found = read_table(value, readers, base_dir, where=where)
    chosen = [ProbeKind(k) for k in value if k in kinds]
    if len(chosen) != 1:
        listed = ", ".join(kinds[:-1]) + f" or {kinds[-1]}"
        got = " and ".join(chosen) if chosen else "none"
        raise ValueError(f"needs one of {listed}, got {got}")
    kind = chosen[0]
    settings: dict[str, Any] = {key: found[key] for key in Probe._fields if key in found}
    if kind is ProbeKind.EXEC:
        settings["argv"] = found["exec"]
    elif kind is ProbeKind.DELAY:
        settings["delay"] = found["delay"]
    elif kind is not ProbeKind.NOTIFY:
        settings["target"] = found[kind.value]
    return replace(defaults, kind=kind, **settings)
