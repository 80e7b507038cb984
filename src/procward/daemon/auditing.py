"""The daemon's audit trail: who changed what, who logged in, who was refused.

Every call that changes something (operator and admin methods), every
``authenticate`` and every refusal (unauthorized, forbidden), on the Unix
socket, TCP and HTTP alike, goes to ``logs/audit.jsonl`` through ``AuditLog``
(written by its own thread, so a slow disk never holds a call up). Reads
(``status``, ``getLogs``…) are not recorded: they change nothing and would
drown the rest. ``getAudit`` (admin) and ``procward audit`` read it back.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from procward.daemon.logs import newer_than_age
from procward.kit.errors import InvalidParams, RpcError
from procward.kit.rpc import CallContext, Peer, Role, method

if TYPE_CHECKING:
    from procward.daemon.audit import AuditLog
    from procward.kit.paths import InstancePaths

log = logging.getLogger("procward.daemon")


class AuditMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``paths``."""

    if TYPE_CHECKING:
        paths: InstancePaths

    audit_log: AuditLog | None = None  # opened at the first entry: a quiet daemon pays nothing

    def opened_audit_log(self) -> AuditLog:
        if self.audit_log is None:
            from procward.daemon.audit import AuditLog

            self.audit_log = AuditLog(os.path.join(self.paths.log_dir, "audit.jsonl"))
        return self.audit_log

    def close_audit_log(self) -> None:
        if self.audit_log is not None:
            self.audit_log.close()

    def audit_call(  # noqa: PLR0917 - the kit's Auditor signature
        self,
        peer: Peer,
        name: str,
        params: Any,
        started: float,
        seconds: float,
        error: RpcError | None,
    ) -> None:
        from procward.daemon.auditentry import AuditEntry

        entry = AuditEntry.for_call(
            peer,
            name,
            params,
            started=started,
            duration_ms=round(seconds * 1000, 3),
            error=None if error is None else f"{error.code} {error.message}",
        )
        self.opened_audit_log().record(entry)

    @method(Role.ADMIN)
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
        if not 0 <= limit <= 100_000:
            raise InvalidParams(f"limit must be between 0 and 100000, got {limit}")
        if isinstance(since, str):
            since = newer_than_age(since)
        audit = self.opened_audit_log()
        return await asyncio.to_thread(audit.query, limit=limit, since=since, method=name)
