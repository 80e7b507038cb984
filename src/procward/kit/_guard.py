"""One connection's share of the limits: its slot, its deadlines, its unread replies.

The JSON-RPC connection (``server.py``) and the HTTP one (``http.py``) differ
in framing, not in how a peer may hold the daemon, so both enforce the limits
through a ``Guard``:

- a slot from ``limits.Admission`` (or a refusal), given back when the
  connection ends;
- an anonymous network peer is closed ``auth_timeout`` s after it connected
  unless it authenticated meanwhile;
- a peer that leaves replies unread (the transport paused writing) for
  ``idle_timeout`` s is dropped, and so is one with ``unread_limit`` bytes
  queued: the protocols stop reading a peer while its replies wait
  (back-pressure), so that limit is a safety net, never the normal case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from procward.kit._limits import Admission, Limits, Pool, Slot

__all__ = ["Guard"]


class Guard:
    __slots__ = ("_auth_timer", "_stall_timer", "admission", "limits", "on_drop", "slot")

    def __init__(self, admission: Admission, on_drop: Callable[[], None]) -> None:
        self.admission = admission
        self.limits: Limits = admission.limits
        self.on_drop = on_drop  # ends the connection at once, unsent replies and all
        self.slot: Slot | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    # -- slots -------------------------------------------------------------

    def admit_unix(self, trusted: bool) -> bool:
        """A Unix-socket slot; ``trusted`` (own uid, root) may take the reserved ones."""
        self.slot = self.admission.unix(trusted)
        return self.slot is not None

    def admit_network(self, address: str) -> bool:
        """An anonymous network slot, with ``auth_timeout`` s to authenticate."""
        self.slot = self.admission.anonymous(address)
        if self.slot is None:
            return False
        loop = asyncio.get_running_loop()
        self._auth_timer = loop.call_later(self.limits.auth_timeout, self._auth_expired)
        return True

    @property
    def anonymous(self) -> bool:
        return self.slot is not None and self.slot.pool is Pool.ANONYMOUS

    def authenticated(self) -> bool:
        """The peer showed a valid token: an authenticated slot, if one is free."""
        if self.slot is None or not self.admission.promote(self.slot):
            return False
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        return True

    def release(self) -> None:
        for timer in (self._auth_timer, self._stall_timer):
            if timer is not None:
                timer.cancel()
        self._auth_timer = self._stall_timer = None
        if self.slot is not None:
            self.admission.release(self.slot)

    def _auth_expired(self) -> None:
        self._auth_timer = None
        if self.anonymous:
            seconds = self.limits.auth_timeout
            self.admission.refused(
                "auth-timeout", f"closed a connection that did not authenticate within {seconds:g}s"
            )
            self.on_drop()

    # -- unread replies ----------------------------------------------------

    def stalled(self) -> None:
        """The transport paused writing: the peer is not reading its replies."""
        idle = self.limits.idle_timeout
        if idle and self._stall_timer is None:
            loop = asyncio.get_running_loop()
            self._stall_timer = loop.call_later(idle, self._stall_expired)

    def flowing(self) -> None:
        """The transport resumed writing."""
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def has_room(self, unsent: int) -> bool:
        """May more be written to a peer with ``unsent`` bytes waiting? Else drop it."""
        if unsent <= self.limits.unread_limit:
            return True
        self.admission.refused(
            "unread", f"dropped a peer with {unsent} bytes of replies it does not read"
        )
        return False

    def _stall_expired(self) -> None:
        self._stall_timer = None
        self.admission.refused(
            "stalled", f"dropped a peer that read no reply for {self.limits.idle_timeout:g}s"
        )
        self.on_drop()
