"""The daemon's replies about apps that the CLI renders, as typed records.

Here: what ``status`` and the changes to apps answer (``DaemonStatus``,
``AppView``, ``AppsChanged`` ...), the hot path of the CLI, so only these
classes are made when ``procward status`` runs; the other replies (health,
metrics, uptime, events, logs, tokens, audit ...) are in ``reports.py``.

The daemon builds them as dicts (``daemon/parts/views.py``, ``App.summary``,
``Instance.snapshot`` ...), each method naming its record
(``@method(Role.VIEWER, result=DaemonStatus)``, shown in ``docs/rpc.md``),
and the CLI reads them with ``Cls.from_dict(reply)``:
every field is checked against its annotation, and a reply that drifted from
its record fails with a ``RecordError`` naming the path
(``apps[2].instances[0].pid: expected int, got str``) instead of a
``KeyError`` in the middle of a table. Keys a record does not know are
ignored, so a newer daemon may add some; fields a reply may lack have
defaults. ``tests/cli/test_replies.py`` decodes a real daemon's reply of
every method that names a record, so the records cannot drift from it
silently.

The fields are named as on the wire, except where the wire's name is a
Python keyword (``from``): there the record says ``was`` (an event) or
``needs`` (an edge of the graph), and its ``_wire`` names the key that
``from_dict`` reads and ``as_dict`` writes.

This module imports only ``kit.structs`` and the standard library, so the
daemon and the CLI can both import it. The CLI imports it lazily, in the
commands that render, never on the path of ``procward ping``
(decision 0005). Neither imports ``typing`` at run time: annotations are
read without it, so a status costs no 20 ms of imports.
"""

from __future__ import annotations

from procward.kit._structs import RecordError, Struct, field

TYPE_CHECKING = False  # not `typing` (20 ms): `procward status` imports this module
if TYPE_CHECKING:
    from typing import Any, TypeVar

    S = TypeVar("S", bound=Struct)


def list_from(record: type[S], data: object) -> list[S]:
    """A reply that is a list of ``record`` (``listTokens``, ``getEvents``...), decoded.

    A wrong item is named by its index: ``[3].pid: expected int, got str``.
    """
    if not isinstance(data, list):
        raise RecordError(f"expected a list of {record.__name__}, got {type(data).__name__}")
    return [record.from_dict(item, f"[{i}]") for i, item in enumerate(data)]


# -- ping ---------------------------------------------------------------------------


class Ping(Struct):
    """``ping``: who answered."""

    pid: int
    version: str
    uptime: float


# -- apps and their instances (status, list, getApp, start..., scale, addApp) -------


class ProbeView(Struct):
    """An instance's probes (``Prober.snapshot``): which check ran last and its result."""

    check: str | None  # "ready" or "health"
    ready: str | None  # the probes, described: "tcp 127.0.0.1:8000"
    health: str | None
    passing: bool | None  # None: not checked yet
    failures: int
    checks: int
    checked_at: float | None
    last_error: str | None


class InstanceView(Struct):
    """One instance of an app (``Instance.snapshot``)."""

    index: int
    state: str
    pid: int | None
    restarts: int
    started_at: float | None
    exit_code: int | None
    exit_signal: int | None
    error: str | None
    probe: ProbeView | None = None  # only for an app with a ready or health probe
    status: str | None = None  # what the app said with sd_notify STATUS=
    # False while a process without a ready probe is in its first min_start: running,
    # not yet counted as started for the apps that depend on it (decision 0050).
    proven: bool = True
    # Secrets changed since this process started: it runs with the old values until reloaded.
    outdated_secrets: list[str] | None = None
    # Only while the daemon samples the app (procward metrics --on):
    cpu: float | None = None  # None on the first sample
    memory: int | None = None
    processes: int | None = None
    # Only while it has a process:
    starttime: int | None = None
    boot_id: str | None = None

    @property
    def sampled(self) -> bool:
        """Does the daemon sample this instance (CPU and MEM in ``status``)?"""
        return self.memory is not None


class AppView(Struct):
    """An app (``App.summary``); ``getApp`` adds its definition, ``spec``."""

    name: str
    desired: str  # "running" or "stopped"
    held: bool  # held down by `procward down` until `up`
    source: str  # its config file, or "cli"
    instances: list[InstanceView]
    depends_on: list[str]
    healthy: bool
    error: str | None
    spec: dict[str, Any] | None = None  # getApp and inspect only


class Listener(Struct):
    """A TCP or HTTP listener wanted, where it listens, and why not."""

    wanted: str | None
    address: str | None
    error: str | None


class DaemonInfo(Struct):
    """The daemon part of ``status``."""

    pid: int
    version: str
    instance: str
    started_at: float
    uptime: float
    connections: int
    pools: dict[str, int]
    paths: dict[str, str]
    addresses: dict[str, str]  # "unix", and "tcp" and "http" when they listen
    network: dict[str, Listener] = field(default_factory=dict)  # absent from older daemons
    # {"in_use": "yes", "path", "controllers", "missing"} or {"in_use": "no", "reason"}
    cgroups: dict[str, str | list[str] | dict[str, str] | None] | None = None  # absent: older


class TlsView(Struct):
    """TLS of the listeners: its files, whether it is served, and why not."""

    cert: str
    key: str
    client_ca: str | None
    serving: bool
    error: str | None
    restart: bool  # the daemon started without OpenSSL: it serves TLS after `upgrade`


class NetworkView(Struct):
    """``setNetwork`` and ``getNetwork``: where the daemon listens, and each listener wanted."""

    addresses: dict[str, str]  # "unix", and "tcp" and "http" when they listen
    network: dict[str, Listener]
    tls: TlsView | None = None  # None: no TLS
    warnings: list[str] = field(default_factory=list)  # listeners open to others in clear


class DaemonStatus(Struct):
    """``status``: the daemon, every app, and whether all is well."""

    daemon: DaemonInfo
    apps: list[AppView]
    healthy: bool
    warnings: list[str] = field(default_factory=list)


class InstanceTable(Struct):
    """Every instance as ``procward status`` prints it: a column per field, row ``i`` being
    instance ``index[i]`` of app ``app[i]`` (decision 0051).

    An app without instances has one row, its ``index`` None (and ``state``, ``pid``,
    ``started_at`` None). ``details`` holds the whole view of the rows that have more to
    say than the columns (an error, an exit, a probe, a status, CPU and MEM...), keyed by
    their row number; every other row's last column is empty. A column per field, not an
    object per instance: at 2,000 apps a twelfth of ``status``'s bytes and no record per
    instance to make.
    """

    app: list[str]
    index: list[int | None]
    state: list[str | None]
    pid: list[int | None]
    started_at: list[float | None]
    restarts: list[int | None]
    details: dict[str, InstanceView] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # each app's last error, if it has one
    held: list[str] = field(default_factory=list)  # the apps held down by `procward down`


class StatusTable(Struct):
    """``statusTable``: ``status`` cut to what ``procward status`` prints (decision 0051)."""

    daemon: DaemonInfo
    instances: InstanceTable
    healthy: bool
    warnings: list[str] = field(default_factory=list)


class AppsChanged(Struct):
    """Every lifecycle method's reply: the apps it acted on, as they are now.

    ``start*``, ``stop*``, ``restart*``, ``reload*``, ``scale``, ``addApp`` and
    ``resume``. ``startApp``: the app's dependencies, then the app (start
    order); ``stopApp``: the app, then the apps that depend on it (stopped
    first); the ``*All`` methods: every app.
    """

    apps: list[AppView]


class Deleted(Struct):
    """``deleteApp``: the app deleted (there is no app left to show)."""

    deleted: str


class ConfigLoaded(Struct):
    """Each file of ``loadConfig`` and ``reloadConfig``: what loading it did."""

    source: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class ConfigApplied(Struct):
    """``loadConfig`` (one file) and ``reloadConfig`` (every file the apps came from).

    ``apps``: the apps of those files, as they are after the change.
    """

    files: list[ConfigLoaded]
    apps: list[AppView]
