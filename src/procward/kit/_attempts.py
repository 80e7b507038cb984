"""Failed logins per source address: a guesser is refused for a while, without a check.

A wrong token costs the daemon a JWT decode, an HMAC and an audit entry;
unlimited, an anonymous peer could make thousands a second. Here each source
address gets ``limit`` failures per ``window``; the next failure locks it out
for ``first_lockout`` seconds, doubling with every lockout up to
``max_lockout``. While locked out, the source's logins are refused at once,
with the time left, and its token is not even looked at. A success does not
wipe the slate: one valid viewer token must not buy unlimited guesses at an
admin one.

A source is an IPv4 address, or the /64 of an IPv6 one (a single host
commonly holds a whole /64). The table keeps at most ``max_sources``
sources, least recently failed dropped first, so a flood of addresses costs
bounded memory; a dropped source starts afresh. Pure: ``now`` comes in.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from procward.kit._structs import Struct

__all__ = ["FailedAttempts", "source_of"]


class _Record(Struct, frozen=False):
    window_start: float
    failures: int = 0
    lockouts: int = 0  # in a row; forgotten after a quiet max_lockout
    locked_until: float = 0.0


class FailedAttempts:
    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 60.0,
        first_lockout: float = 10.0,
        max_lockout: float = 900.0,
        max_sources: int = 4096,
    ) -> None:
        self.limit = limit
        self.window = window
        self.first_lockout = first_lockout
        self.max_lockout = max_lockout
        self.max_sources = max_sources
        self._sources: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sources)

    def wait_before(self, source: str, now: float) -> int:
        """Whole seconds ``source`` must wait before its next login is looked at; 0: go."""
        record = self._sources.get(source)
        if record is None or record.locked_until <= now:
            return 0
        return math.ceil(record.locked_until - now)

    def failed(self, source: str, now: float) -> None:
        """Count a failed login of ``source``; past the limit, lock it out."""
        record = self._record(source, now)
        if now - record.window_start >= self.window:
            if now - record.locked_until >= self.max_lockout:
                record.lockouts = 0
            record.window_start, record.failures = now, 0
        record.failures += 1
        if record.failures >= self.limit:
            lockout = min(self.first_lockout * 2**record.lockouts, self.max_lockout)
            record.lockouts += 1
            record.locked_until = now + lockout
            record.window_start, record.failures = now + lockout, 0

    def _record(self, source: str, now: float) -> _Record:
        record = self._sources.get(source)
        if record is not None:
            self._sources.move_to_end(source)
            return record
        while len(self._sources) >= self.max_sources:
            self._sources.popitem(last=False)
        record = self._sources[source] = _Record(now)
        return record


def source_of(address: str) -> str:
    """The source a ``host:port`` peer address is counted under."""
    host = address.rpartition(":")[0].strip("[]") or address
    if ":" not in host:
        return host
    import ipaddress  # IPv6 peers only

    try:
        parsed = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return parsed.exploded[:19] + "::/64"
