"""The daemon's audit trail: who changed what, who logged in, who was refused.

Every call that changes something (operator and admin methods), every
``authenticate`` and every refusal (unauthorized, forbidden), on the Unix
socket, TCP and HTTP alike, is recorded through ``AuditLog`` (written by its
own thread, so a slow disk never holds a call up). Reads (``status``,
``getLogs``…) are not recorded: they change nothing and would drown the rest.
``getAudit`` (admin) and ``procward audit`` read it back.

Changes and logins go to ``logs/audit.jsonl``; refusals, which anyone who can
reach a socket can cause, to ``logs/audit-refusals.jsonl``, folded
(``refusals``) and rotated on their own, so that no flood of them can push a
change out of memory or off the disk (decision 0029). ``getAudit`` merges
the two by time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from procward.daemon.parts.logs import newer_than_age
from procward.kit._errors import Forbidden, InvalidParams, RpcError, Unauthorized
from procward.kit._rpc import Auditor, CallContext, Peer, Role, method

if TYPE_CHECKING:
    from procward.daemon.auditentry import AuditEntry
    from procward.daemon.auditlog import AuditLog
    from procward.daemon.refusals import RefusalFolder

log = logging.getLogger("procward.daemon")

MAX_LIMIT = 100_000
# Refusals: fewer kept than changes (16 MiB on disk at most, 1 MiB queued).
REFUSALS = {"entries": 2_000, "queued_bytes": 1024 * 1024, "file_bytes": 8 * 1024 * 1024}
REFUSAL_BACKUPS = 1


class AuditTrail:
    """The two audit logs of one daemon, each opened at its first entry."""

    def __init__(
        self,
        log_dir: str,
        names: Callable[[str], tuple[str, ...] | None],
        fold_window: float | None = None,  # seconds; None: refusals.WINDOW
        withheld: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self._names = names  # a method's parameter names, to mask positional secrets
        # Per method, parameters never recorded whatever their name (setSecret's value).
        self._withheld = withheld or {}
        self._fold_window = fold_window
        self._changes: AuditLog | None = None
        self._refusals: AuditLog | None = None
        self._folder: RefusalFolder | None = None
        self._timer: asyncio.TimerHandle | None = None

    def changes(self) -> AuditLog:
        if self._changes is None:
            from procward.daemon.auditlog import AuditLog

            self._changes = AuditLog(os.path.join(self.log_dir, "audit.jsonl"))
        return self._changes

    def refusals(self) -> AuditLog:
        if self._refusals is None:
            from procward.daemon.auditlog import AuditLog, Limits

            limits = Limits(**REFUSALS, backups=REFUSAL_BACKUPS)
            self._refusals = AuditLog(os.path.join(self.log_dir, "audit-refusals.jsonl"), limits)
        return self._refusals

    def record_call(  # noqa: PLR0917 - the kit's Auditor signature
        self,
        peer: Peer,
        name: str,
        params: Any,
        started: float,
        seconds: float,
        error: RpcError | None,
    ) -> None:
        from procward.daemon.auditentry import AuditEntry, withhold

        positional = self._names(name) or ()
        hidden = self._withheld.get(name)
        entry = AuditEntry.for_call(
            peer,
            name,
            params if hidden is None else withhold(params, hidden, positional),
            started=started,
            duration_ms=round(seconds * 1000, 3),
            error=None if error is None else f"{error.code} {error.message}",
            positional=positional,
        )
        if isinstance(error, Forbidden | Unauthorized):
            self._refused(peer, entry, error.code)
        else:
            self.changes().record(entry)

    def _refused(self, peer: Peer, entry: AuditEntry, code: int) -> None:
        from procward.daemon.refusals import WINDOW, RefusalFolder, kind_of

        if self._folder is None:
            self._folder = RefusalFolder(self._fold_window or WINDOW)
        kind = kind_of(peer, entry.method, code)
        self._record_refusals(self._folder.add(kind, entry, time.monotonic()))
        self._wake_at_next_close()

    def _record_refusals(self, entries: list[AuditEntry]) -> None:
        for entry in entries:
            self.refusals().record(entry)

    def _wake_at_next_close(self) -> None:
        """Record the folded refusals when their window ends, even if none follow."""
        closes = None if self._folder is None else self._folder.next_close()
        if closes is None or self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: they are recorded at the next query or close
            return
        self._timer = loop.call_later(max(0.0, closes - time.monotonic()), self._window_closed)

    def _window_closed(self) -> None:
        self._timer = None
        if self._folder is not None:
            self._record_refusals(self._folder.due(time.monotonic()))
        self._wake_at_next_close()

    def settle(self) -> None:
        """Record what is folded now (before a query): counts are not held back from a reader."""
        if self._folder is not None:
            self._record_refusals(self._folder.drain())

    def query(self, limit: int, since: float | None, name: str | None) -> list[dict[str, Any]]:
        """The newest ``limit`` entries of both logs, oldest first (blocking: use a thread)."""
        found = [
            row
            for audit in (self.changes(), self.refusals())
            for row in audit.query(limit=limit, since=since, method=name)
        ]
        found.sort(key=lambda row: float(row["time"]))
        return found[len(found) - limit :] if limit else []

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.settle()
        for audit in (self._changes, self._refusals):
            if audit is not None:
                audit.close()


class Audit:
    """The audit trail as a part: ``record`` for the RPC and HTTP servers, ``getAudit``.

    Nothing is opened until the first entry (``AuditTrail`` opens its logs then).
    """

    def __init__(
        self,
        log_dir: str,
        parameter_names: Callable[[str], tuple[str, ...] | None],
        withheld: Mapping[str, frozenset[str]] | None = None,
    ):
        """``withheld``: per method, the parameters recorded as ``"***"`` whatever
        their name (``setSecret``'s ``value``)."""
        self.trail = AuditTrail(log_dir, parameter_names, withheld=withheld)
        self.record: Auditor = self.trail.record_call  # the kit's server calls it for each call

    def close(self) -> None:
        self.trail.close()

    @method(Role.ADMIN, result="list[AuditView]")
    async def getAudit(
        self,
        ctx: CallContext,
        limit: int = 100,
        since: float | str | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` entries (oldest first) of one method or all.

        ``since`` is a unix time, or an age such as ``"10m"`` (entries newer than that).
        """
        if isinstance(limit, bool) or not 0 <= limit <= MAX_LIMIT:
            got = _shown(limit)
            raise InvalidParams(f"limit must be a whole number from 0 to {MAX_LIMIT}, got {got}")
        after = newer_than_age(since) if isinstance(since, str) else unix_time(since)
        self.trail.settle()
        return await asyncio.to_thread(self.trail.query, limit, after, name)


def unix_time(since: float | None) -> float | None:
    """``since`` as a float, or InvalidParams for what is no time (NaN, 10**400, true)."""
    if since is None:
        return None
    try:
        if isinstance(since, bool):
            raise TypeError
        after = float(since)
    except (OverflowError, TypeError, ValueError):
        after = math.nan
    if not math.isfinite(after):
        got = _shown(since)
        raise InvalidParams(f"since must be a unix time or an age such as '10m', got {got}")
    return after


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"
