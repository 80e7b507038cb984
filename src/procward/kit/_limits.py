"""Who may hold a connection, and for how long: the daemon's connection limits.

Why a pool per transport and trust level: with one cap shared by everyone,
the cheapest peer (anonymous, on the network) could take every slot and lock
out the most trusted one (the owner, on the Unix socket). So each kind of peer
draws from its own pool (decision 0026):

    unix           the Unix socket; ``unix_reserved`` of its slots only for
                   the daemon's own uid and root
    anonymous      network connections (TCP and HTTP together) without a
                   token yet: few, few per address, and only ``auth_timeout``
                   seconds to present one
    authenticated  network connections that presented a valid token

A network flood therefore holds at most ``anonymous + authenticated``
descriptors, and the Unix socket keeps the rest.

Nothing here does I/O: ``Admission`` counts slots, ``RefusalLog`` decides
when a refusal is worth a log line. ``guard.Guard`` holds a connection's slot
and its deadlines; ``server.py`` and ``http.py`` ask it.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from procward.kit._structs import Struct

__all__ = ["Admission", "Limits", "Pool", "RefusalLog", "Slot"]

log = logging.getLogger("procward.kit.limits")


class Limits(Struct):
    """The daemon's connection limits; a ``Daemon`` subclass may set its own."""

    unix: int = 256  # Unix-socket connections in all
    unix_reserved: int = 16  # of them, slots only the daemon's own uid and root may take
    anonymous: int = 64  # network connections that have not authenticated (TCP + HTTP)
    anonymous_per_address: int = 16  # of them, from one IP address
    authenticated: int = 256  # network connections with a valid token
    auth_timeout: float = 5.0  # s for a network connection to present a token
    read_timeout: float = 10.0  # s for an HTTP request (head and body) after its first byte
    idle_timeout: float | None = 600.0  # s without a request, or with replies left unread
    anonymous_frame: int = 16 * 1024  # largest frame before a token: `authenticate` fits
    max_frame: int = 1 << 20  # largest frame after one, and on the Unix socket
    unread_limit: int = 4 << 20  # unsent reply bytes at which a peer is dropped


class Pool(enum.Enum):
    UNIX = "unix"
    ANONYMOUS = "anonymous"
    AUTHENTICATED = "authenticated"


class Slot:
    """One connection's place in a pool, given back once (``Admission.release``)."""

    __slots__ = ("address", "held", "pool")

    def __init__(self, pool: Pool, address: str | None = None) -> None:
        self.pool = pool
        self.address = address  # the peer's IP address, for the per-address count
        self.held = True


class Admission:
    """Counts the slots of every pool; refuses what does not fit, with a log line."""

    def __init__(self, limits: Limits | None = None, refusals: RefusalLog | None = None) -> None:
        self.limits = limits or Limits()
        self.refusals = refusals or RefusalLog()
        self.counts = dict.fromkeys(Pool, 0)
        self.per_address: dict[str, int] = {}

    def unix(self, trusted: bool) -> Slot | None:
        """A Unix-socket slot; ``trusted`` (own uid or root) may take the reserved ones."""
        cap = self.limits.unix if trusted else self.limits.unix - self.limits.unix_reserved
        if self.counts[Pool.UNIX] >= cap:
            self.refused("unix", f"refused a connection: {cap} Unix-socket connections already")
            return None
        return self._take(Pool.UNIX)

    def anonymous(self, address: str) -> Slot | None:
        """A slot for a network connection that has not authenticated yet."""
        limits = self.limits
        if self.counts[Pool.ANONYMOUS] >= limits.anonymous:
            self.refused(
                "anonymous", f"refused a connection: {limits.anonymous} anonymous ones already"
            )
            return None
        if self.per_address.get(address, 0) >= limits.anonymous_per_address:
            cap = limits.anonymous_per_address
            self.refused(
                "per-address", f"refused a connection: {cap} anonymous ones from {address} already"
            )
            return None
        self.per_address[address] = self.per_address.get(address, 0) + 1
        return self._take(Pool.ANONYMOUS, address)

    def promote(self, slot: Slot) -> bool:
        """Move an anonymous connection that authenticated to the authenticated pool.

        False, the slot unchanged, when that pool is full.
        """
        if slot.pool is not Pool.ANONYMOUS or not slot.held:
            return slot.held
        cap = self.limits.authenticated
        if self.counts[Pool.AUTHENTICATED] >= cap:
            self.refused(
                "authenticated", f"refused a login: {cap} authenticated connections already"
            )
            return False
        self.release(slot)
        slot.pool, slot.held = Pool.AUTHENTICATED, True
        self.counts[Pool.AUTHENTICATED] += 1
        return True

    def release(self, slot: Slot) -> None:
        if not slot.held:
            return
        slot.held = False
        self.counts[slot.pool] -= 1
        if slot.pool is Pool.ANONYMOUS and slot.address is not None:
            left = self.per_address[slot.address] - 1
            if left:
                self.per_address[slot.address] = left
            else:
                del self.per_address[slot.address]

    def refused(self, kind: str, why: str) -> None:
        """Note a refusal (or a peer dropped) of ``kind``: logged at most every few seconds."""
        count = self.refusals.note(kind)
        if count:
            log.warning("%s (%d time(s) since the last such line)", why, count)

    def _take(self, pool: Pool, address: str | None = None) -> Slot:
        self.counts[pool] += 1
        return Slot(pool, address)


class RefusalLog:
    """One log line per kind of refusal every ``interval`` s at most, carrying the count.

    The first refusal of a quiet period is logged at once; those that follow
    within ``interval`` are counted and reported with the next line.
    """

    def __init__(self, interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def note(self, kind: str) -> int:
        """Count one refusal; the number to log now (0: not yet)."""
        count = self._pending.get(kind, 0) + 1
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._pending[kind] = count
            return 0
        self._last[kind] = now
        self._pending[kind] = 0
        return count
