"""Alike refusals folded into one audit entry with a count (pure: entries and ``now`` in).

Why: every refused call used to be one queued entry holding its raw params,
so 356 anonymous frames of 1 MiB held 1.37 GiB, and 30,000 refusals in 43 s
rotated the owner's changes out of the audit trail (issue 11, items 3 and 9).

Refusals are alike when they come over the same transport from the same
place (the host of a network peer, whatever its port; the uid of a Unix
peer), under the same token subject, for the same method, with the same
error code. The first of a kind is recorded as it is, so a human sees what
was sent; the next ones within ``WINDOW`` seconds are only counted, and
become one entry (the first of them, with ``count`` and ``until``, the time
of the last) when the window ends. So one kind of refusal costs at most two
entries a window, however fast it comes. At most ``MAX_KINDS`` windows are
open at once: a new kind past that closes the oldest window early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from procward.kit._structs import Struct, replace

if TYPE_CHECKING:
    from procward.daemon.auditentry import AuditEntry
    from procward.kit._rpc import Peer

WINDOW = 60.0  # seconds
MAX_KINDS = 1_000

Kind = tuple[str, str, str, str, int]  # transport, where from, subject, method, error code


def kind_of(peer: Peer, method: str, code: int) -> Kind:
    """What makes refusals alike."""
    if peer.uid is not None:
        origin = f"uid {peer.uid}"
    else:  # "host:port", "[::1]:port": the port changes with every connection
        origin = (peer.address or "").rpartition(":")[0] or (peer.address or "")
    return (peer.transport, origin, peer.subject or "", method, code)


class _Window(Struct, frozen=False):
    closes: float  # monotonic
    repeated: AuditEntry | None = None  # the first refusal after the one recorded
    count: int = 0
    until: float = 0.0  # unix time of the last


class RefusalFolder:
    """Decides which refusals are recorded now, and which later as one counted entry."""

    def __init__(self, window: float = WINDOW, max_kinds: int = MAX_KINDS) -> None:
        self.window = window
        self.max_kinds = max_kinds
        self._open: dict[Kind, _Window] = {}  # in the order they opened, so closing in order

    def add(self, kind: Kind, entry: AuditEntry, now: float) -> list[AuditEntry]:
        """What to record now for refusal ``entry`` of ``kind``, at monotonic ``now``."""
        ready = self.due(now)
        window = self._open.get(kind)
        if window is not None:
            if window.repeated is None:
                window.repeated = entry
            window.count += 1
            window.until = entry.time
            return ready
        while len(self._open) >= self.max_kinds:
            ready.extend(self._close(next(iter(self._open))))
        self._open[kind] = _Window(now + self.window)
        ready.append(entry)
        return ready

    def due(self, now: float) -> list[AuditEntry]:
        """The counted entries of the windows that have ended by ``now``."""
        ready: list[AuditEntry] = []
        while self._open:
            kind, window = next(iter(self._open.items()))
            if window.closes > now:
                break
            ready.extend(self._close(kind))
        return ready

    def drain(self) -> list[AuditEntry]:
        """Close every window now (before a query, at shutdown)."""
        ready: list[AuditEntry] = []
        while self._open:
            ready.extend(self._close(next(iter(self._open))))
        return ready

    def next_close(self) -> float | None:
        """Monotonic time the oldest open window ends."""
        return next(iter(self._open.values())).closes if self._open else None

    def _close(self, kind: Kind) -> list[AuditEntry]:
        window = self._open.pop(kind)
        if window.repeated is None:
            return []
        return [replace(window.repeated, count=window.count, until=window.until)]
