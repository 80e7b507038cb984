"""Live, suspect or offline: a node's state from the age of its last heartbeat. Pure.

Ages are measured on Redis's clock (``TIME``, in the scripts that stamp and
read ``seen``), so two nodes whose clocks disagree still agree on who is
late. A node is ``live`` until it misses a heartbeat (its own interval,
stored in its record, with half an interval of slack for a busy loop),
``suspect`` until ``offline_after``, then ``offline``.
"""

from __future__ import annotations

from procward.fleet.placement import LIVE, OFFLINE, SUSPECT

__all__ = ["verdict"]


def verdict(age: float, heartbeat: float, offline_after: float) -> str:
    """``live``, ``suspect`` or ``offline`` for a record last renewed ``age`` seconds ago."""
    if age >= offline_after:
        return OFFLINE
    if age > 2.5 * heartbeat:
        return SUSPECT
    return LIVE
