"""The daemon's log methods: read, follow, empty and reopen the apps' logs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from procward.kit.durations import parse_duration
from procward.kit.errors import InvalidParams
from procward.kit.rpc import CallContext, Role, method
from procward.supervision.events import EventFollower, as_dict
from procward.supervision.logs import Follower, LogSink, newer_than, tail_lines

if TYPE_CHECKING:
    from procward.supervision.supervisor import Supervisor


class LogMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``sup`` and ``_reopen_logs``."""

    if TYPE_CHECKING:  # declared for mypy only: at run time the daemon's own win

        @property
        def sup(self) -> Supervisor: ...

        def _reopen_logs(self) -> None: ...

    def _sinks(self, name: str | None, stream: str | None, instance: int | None) -> list[LogSink]:
        return [
            s
            for s in self.sup.sinks(name)
            if (stream is None or s.stream in (stream, "log"))
            and (instance is None or s.index == instance)
        ]

    @method(Role.VIEWER)
    def getLogs(  # noqa: PLR0917 - the JSON-RPC params, positional or named
        self,
        ctx: CallContext,
        name: str | None = None,
        lines: int = 100,
        stream: str | None = None,
        instance: int | None = None,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        """The last ``lines`` lines of each matching log (current file and backups).

        ``since`` ("10m", "1h30m") keeps lines newer than that; it needs lines
        that carry their time (``log_time = true`` or ``log_format = "json"``).
        """
        if stream not in (None, "out", "err"):
            raise InvalidParams("stream must be 'out' or 'err'")
        cutoff = newer_than_age(since)
        out = []
        for sink in self._sinks(name, stream, instance):
            raw = tail_lines(sink.path, max(0, lines), sink.backups)
            if cutoff is not None:
                raw = newer_than(sink, raw, cutoff)
            text = [ln.decode("utf-8", "replace") for ln in raw]
            out.append(
                {
                    "app": sink.app,
                    "instance": sink.index,
                    "stream": sink.stream,
                    "path": sink.path,
                    "lines": text,
                }
            )
        return out

    @method(Role.VIEWER, stream=True)
    async def followLogs(
        self,
        ctx: CallContext,
        name: str | None = None,
        stream: str | None = None,
        instance: int | None = None,
    ) -> None:
        """Stream new output as ``log`` notifications until the client hangs up.

        A client that reads too slowly loses chunks (``dropped`` notifications
        say how much); the daemon never buffers more than FOLLOW_QUEUE chunks.
        """
        sinks = self._sinks(name, stream, instance)
        follower = Follower()
        for sink in sinks:
            sink.followers.add(follower)
        try:
            await ctx.notify("following", {"logs": [s.label for s in sinks]})
            while True:
                app, index, which, data = await follower.queue.get()
                if follower.dropped:
                    await ctx.notify("dropped", {"bytes": follower.dropped})
                    follower.dropped = 0
                text = data.decode("utf-8", "replace")
                await ctx.notify(
                    "log", {"app": app, "instance": index, "stream": which, "data": text}
                )
        finally:
            for sink in sinks:
                sink.followers.discard(follower)

    @method(Role.VIEWER)
    def getEvents(
        self,
        ctx: CallContext,
        name: str | None = None,
        limit: int = 100,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        """What happened to the instances, most recent last (kept in memory)."""
        if name is not None:
            self.sup.app(name)
        cutoff = newer_than_age(since)
        return self.sup.events.recent(max(0, limit), name, cutoff)

    @method(Role.VIEWER, stream=True)
    async def followEvents(self, ctx: CallContext, name: str | None = None) -> None:
        """Stream new events as ``event`` notifications until the client hangs up."""
        if name is not None:
            self.sup.app(name)
        follower = EventFollower(name)
        self.sup.events.followers.add(follower)
        try:
            await ctx.notify("following", {"events": name or "all"})
            while True:
                event = await follower.queue.get()
                if follower.missed:
                    await ctx.notify("dropped", {"events": follower.missed})
                    follower.missed = 0
                await ctx.notify("event", as_dict(event))
        finally:
            self.sup.events.followers.discard(follower)

    @method(Role.OPERATOR)
    def flushLogs(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Empty the logs (of one app, or all) and delete their backups."""
        sinks = self.sup.sinks(name)
        for sink in sinks:
            sink.truncate()
        return {"flushed": len(sinks)}

    @method(Role.OPERATOR)
    def reopenLogs(self, ctx: CallContext) -> dict[str, Any]:
        """Reopen every log file by name, after an external logrotate (also SIGUSR1)."""
        self._reopen_logs()
        return {"reopened": len(self.sup.sinks()) + 1}


def newer_than_age(since: str | None) -> float | None:
    """The unix time ``since`` ("10m", "1h30m") ago, for "only newer than" queries."""
    if since is None:
        return None
    try:
        return time.time() - parse_duration(since, what="since")
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
