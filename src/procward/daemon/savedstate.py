"""``SavedState``: what ``state.json`` holds, as a versioned record.

The file is the daemon's memory across a crash, so it is its own record,
not the ``status`` view: per app its table, source and intent; per
instance only what the next daemon needs (the identity of its process
group, to end leftovers, and a ``crashed``/``exited`` outcome to keep);
the daemon's settings. Read with ``from_dict()``; written by ``snapshot``
as the records' ``as_dict()`` would write them (built directly, for the
loop's sake: see there).

Read in parts, so that a bad part costs only itself (as before records):
the envelope (``format``, the list of apps) is checked when the file is
read (``supervision.state.parse_state``: an unknown ``format`` refuses the
start, decision 0031); each app entry is read with ``SavedApp.from_dict``
when it is restored (a bad one is not restored, kept as it was and named
in a warning); the settings with ``SavedSettings.from_dict`` (bad ones are
ignored, with an error logged). A file written before these records (the
same keys, plus fields of the status view) reads as it is.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procward.kit._structs import RecordError, Struct, field
from procward.supervision.state import FORMAT, parse_state

if TYPE_CHECKING:
    from procward.supervision.app import App
    from procward.supervision.instance import Instance
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")


ADHOC = "cli"  # the source of apps added by `addApp`, not from a file


class SavedInstance(Struct):
    index: int
    state: str
    pid: int | None = None
    pgid: int | None = None  # with starttime and boot_id: the group to end after a crash
    starttime: int | None = None
    boot_id: str | None = None
    restarts: int = 0
    started_at: float | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    error: str | None = None


class SavedApp(Struct):
    spec: dict[str, Any]  # ``AppSpec.to_table()`` with its name; parsed again at restore
    source: str = ADHOC
    desired: bool = False
    held: bool = False  # held down by the last stop of the daemon (`up` starts it)
    max_instances: int | None = None
    instances: list[SavedInstance] = field(default_factory=list)


class MetricsSetting(Struct):
    enabled: bool = False
    interval: float = 5.0
    sampled: list[str] | None = None  # the apps sampled; None: every app


class NetworkSetting(Struct):
    tcp: str | None = None  # the address wanted, listening or not
    http: str | None = None
    # TLS for both listeners: absolute paths of PEM files, read at each start. The
    # daemon's entry reads these before asyncio loads (``daemon.__main__``).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None  # mutual TLS: clients need a certificate it signed


class SavedSettings(Struct):
    metrics: MetricsSetting = field(default_factory=MetricsSetting)
    network: NetworkSetting = field(default_factory=NetworkSetting)
    max_total_instances: int | None = None  # a file's, until the next


class SavedState(Struct):
    format: int = FORMAT
    saved_at: float = 0.0
    # Entries as read: each is read on its own (``SavedApp.from_dict``) when
    # restored, so one that no longer reads costs only itself. Written as
    # ``SavedApp``s, and entries that made no app as they were.
    apps: list[Any] = field(default_factory=list)
    settings: Any = None  # ``SavedSettings``; read on its own for the same reason


def snapshot(
    sup: Supervisor,
    kept: Iterable[dict[str, Any]],
    settings: SavedSettings,
    entries: AppEntries | None = None,
) -> dict[str, Any]:
    """The file as it is now (in the loop, so consistent): ``SavedState(...).as_dict()``.

    Each app's entry comes encoded, from ``entries`` (made anew without
    one): ``StateStore`` puts the bytes in the file as they are. Built from
    plain values, key for key the records' fields, rather than through the
    records: the loop pays for every save, and a cold start of 2,000 apps
    saves while it goes. A test reads what the daemon wrote back through
    the records and finds it unchanged.
    """
    apps: list[Any] = (entries or AppEntries()).encoded(sup.apps.values())
    apps.extend(kept)  # entries of the last file that made no app: kept as they were
    return {"format": FORMAT, "saved_at": time.time(), "apps": apps, "settings": settings.as_dict()}


class AppEntries:
    """Each app's entry as JSON bytes, encoded again only when what it says changed.

    An entry is made from its *key* alone — a tuple of every value it holds
    (``_key``) — so an entry whose key equals the last one's is the same
    entry, by construction: nothing can change it unseen. Making and
    comparing the keys of 2,000 apps costs a few milliseconds; making and
    encoding their entries, ten times that, at every save of a cold start.
    The spec's JSON is the app's own (``App.table``); kept here is the rest.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[Any, ...], bytes]] = {}

    def encoded(self, apps: Iterable[App]) -> list[Any]:
        last, now = self._last, {}
        out: list[Any] = []
        for app in apps:
            key = _key(app)
            found = last.get(app.name)
            if found is None or found[0] != key:
                found = (key, json.dumps(_rest(key)).encode())
            now[app.name] = found
            out.append(b"".join((b'{"spec": ', key[0], b", ", found[1][1:])))
        self._last = now  # apps gone are forgotten
        return out


def _key(app: App) -> tuple[Any, ...]:
    """Every value of ``app``'s entry, in ``SavedApp``'s order (the spec as JSON)."""
    return (
        app.table,
        app.source,
        app.desired,
        app.held,
        app.max_instances,
        tuple(_instance_key(inst) for inst in app.instances),
    )


def _instance_key(inst: Instance) -> tuple[Any, ...]:
    """``SavedInstance`` of ``inst``: what the view shows of its outcome, and the
    identity of its group from the instance itself (so that the view may drop it
    without harm)."""
    rec = inst.record
    ident = None if inst.child is None else inst.child.identity
    return (
        inst.index,
        rec.state.value,
        rec.pid,
        inst.pgid,
        None if ident is None else ident.starttime,
        None if ident is None else ident.boot_id,
        rec.restarts,
        inst.started_wall if rec.pid is not None else None,
        rec.exit_code,
        rec.exit_signal,
        rec.error,
    )


_REST_FIELDS = ("source", "desired", "held", "max_instances")
_INSTANCE_FIELDS = SavedInstance._fields


def _rest(key: tuple[Any, ...]) -> dict[str, Any]:
    """``SavedApp(...).as_dict()`` but for its spec, of the app whose key is ``key``."""
    rest = dict(zip(_REST_FIELDS, key[1:], strict=False))
    rest["instances"] = [dict(zip(_INSTANCE_FIELDS, each, strict=True)) for each in key[-1]]
    return rest


def read(raw: bytes) -> SavedState:
    """``state.json``'s bytes as the record (``ValueError`` if they are not one)."""
    return SavedState.from_dict(parse_state(raw))


def read_settings(saved: object, path: str) -> SavedSettings:
    """The saved settings; unreadable ones are logged and the defaults taken."""
    if saved is None:
        return SavedSettings()
    try:
        return SavedSettings.from_dict(saved, "settings")
    except RecordError as exc:
        log.error("ignoring unreadable settings in %s: %s", path, exc)
        return SavedSettings()
