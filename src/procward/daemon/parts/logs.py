"""``Logs``: the daemon's log methods: read, follow, empty and reopen the apps' logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.kit._durations import parse_duration
from procward.kit._errors import InvalidParams, NotFound
from procward.kit._rpc import CallContext, Role, method
from procward.supervision.events import EventFollower, as_dict
from procward.supervision.logs import (
    Follower,
    LogSink,
    Mark,
    Upto,
    newer_than,
    tail_lines,
)

if TYPE_CHECKING:
    from procward.supervision.supervisor import Supervisor


class Logs:
    """The apps' logs and the events, to read and follow; ``flushLogs``, ``reopenLogs``.

    ``reopen`` reopens every log file of the daemon (its own and the apps'),
    as SIGUSR1 does.
    """

    def __init__(self, sup: Supervisor, reopen: Callable[[], None]) -> None:
        self.sup = sup
        self.reopen = reopen

    def _sinks(self, name: str | None, stream: str | None, instance: int | None) -> list[LogSink]:
        """The logs a query names; ``InvalidParams`` or ``NotFound`` if it can name none."""
        if stream not in (None, "out", "err"):
            raise InvalidParams(f"stream must be 'out' or 'err', got {stream!r}")
        if instance is not None:
            apps = [self.sup.app(name)] if name else list(self.sup.apps.values())
            if not any(0 <= instance < len(app.instances) for app in apps):
                if name is None:
                    raise NotFound(f"no app has an instance {instance}")
                raise NotFound(
                    f"{name} has no instance {instance} (it has {len(apps[0].instances)})"
                )
        return [
            s
            for s in self.sup.sinks(name)
            if (stream is None or s.stream in (stream, "log"))
            and (instance is None or s.index == instance)
        ]

    @method(Role.VIEWER, result="list[LogEntry]")
    async def getLogs(  # noqa: PLR0917 - the JSON-RPC params, positional or named
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
        that carry their time (``log_time = true`` or ``log_format = "json"``):
        for one app that is an error, for all apps those without are skipped
        with a ``note``. A ``log_format = "json"`` log says ``"format": "json"``
        (each line is the app's JSON object). A merged log (``merge_logs``) is
        stream ``log``: one pipe carried both, so which one a line came from is
        not known, and ``stream`` "out" or "err" shows it whole, with a note.

        One reply holds at most REPLY_LINES lines and REPLY_BYTES bytes of
        them, all logs together: a log cut short says so (``truncated``). The
        files are read in a thread, backwards from their end, so a big read
        never holds up the loop.
        """
        sinks = self._sinks(name, stream, instance)
        return await self._tails(sinks, lines, since, merged=stream is not None, one=name)

    async def _tails(
        self,
        sinks: list[LogSink],
        lines: int,
        since: str | None,
        *,
        merged: bool,
        one: str | None,
        marks: list[Mark] | None = None,
    ) -> list[dict[str, Any]]:
        """``getLogs``' entries for ``sinks``; with ``marks``, as they stood at them."""
        cutoff = newer_than_age(since)
        entries, reading = [], []
        for i, sink in enumerate(sinks):
            entries.append(log_entry(sink, merged_note=merged))
            if cutoff is not None and not sink.timed and one is None:
                entries[-1]["note"] = UNTIMED_NOTE
            else:
                reading.append((sink, entries[-1], marks[i] if marks else None))
        await asyncio.to_thread(read_tails, reading, max(0, lines), cutoff)
        return entries

    @method(Role.VIEWER, stream=True)
    async def followLogs(  # noqa: PLR0917 - the JSON-RPC params, positional or named
        self,
        ctx: CallContext,
        name: str | None = None,
        stream: str | None = None,
        instance: int | None = None,
        lines: int = 0,
        since: str | None = None,
    ) -> None:
        """Stream new output as ``log`` notifications until the client hangs up.

        With ``lines`` (and ``since``, as ``getLogs``), first a ``tail``
        notification: ``getLogs``' entries as the logs stood when following
        began, so that each line is shown once, none lost or doubled between
        the two. A client that reads too slowly loses chunks (``dropped``
        notifications say how much); the daemon never holds more than
        FOLLOW_BYTES for it.
        """
        sinks = self._sinks(name, stream, instance)
        newer_than_age(since)  # a bad ``since`` is said before anything is followed
        json_logs = {(s.app, s.index, s.stream) for s in sinks if s.json_lines}
        follower = Follower()
        for sink in sinks:
            sink.follow(follower)
        marks = [sink.mark() for sink in sinks]  # the same step: the split is exact
        try:
            await ctx.notify("following", {"logs": [s.label for s in sinks]})
            if lines > 0 or since is not None:
                tails = await self._tails(
                    sinks,
                    lines if lines > 0 else REPLY_LINES,
                    since,
                    merged=stream is not None,
                    one=name,
                    marks=marks,
                )
                await ctx.notify("tail", tails)
            while True:
                app, index, which, data = await follower.next()
                if follower.dropped:
                    await ctx.notify("dropped", {"bytes": follower.dropped})
                    follower.dropped = 0
                chunk = {
                    "app": app,
                    "instance": index,
                    "stream": which,
                    "data": data.decode("utf-8", "replace"),
                }
                if (app, index, which) in json_logs:
                    chunk["format"] = "json"
                await ctx.notify("log", chunk)
        finally:
            for sink in sinks:
                sink.unfollow(follower)

    @method(Role.VIEWER, result="list[Event]")
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

    # It deletes: not an operator's, who may only start and stop.
    @method(Role.ADMIN, result="Flushed")
    def flushLogs(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """Empty the logs (of one app, or all) and delete their backups."""
        sinks = self.sup.sinks(name)
        for sink in sinks:
            sink.truncate()
        return {"flushed": len(sinks)}

    @method(Role.OPERATOR)
    def reopenLogs(self, ctx: CallContext) -> dict[str, Any]:
        """Reopen every log file by name, after an external logrotate (also SIGUSR1)."""
        self.reopen()
        return {"reopened": len(self.sup.sinks()) + 1}


REPLY_LINES = 10_000  # lines in one getLogs reply, all logs together
REPLY_BYTES = 4 << 20  # bytes of those lines


def read_tails(
    logs: list[tuple[LogSink, dict[str, Any], Mark | None]], lines: int, cutoff: float | None
) -> None:
    """Fill each entry's ``lines``, within the reply's budget (in a thread: files only).

    A log with a ``Mark`` is read as it stood then. Should it rotate while
    it is read, it is read again once (the mark then names a backup); an
    entry whose last line was still open at the mark says ``open_line``.
    """
    left_lines, left_bytes = REPLY_LINES, REPLY_BYTES
    for sink, entry, mark in logs:
        count = min(lines, left_lines)
        try:
            raw, clipped = _read_tail(sink, count, left_bytes, mark)
        except OSError as exc:  # a symlink planted (refused), a file made unreadable
            entry["note"] = f"cannot read {sink.path}: {exc.strerror or exc}"
            continue
        if clipped or (count < lines and len(raw) == count):
            entry["truncated"] = TRUNCATED_NOTE
        if mark is not None and mark.open_line and raw:
            entry["open_line"] = True
        if cutoff is not None:
            raw = newer_than(sink, raw, cutoff)
        left_lines -= len(raw)
        left_bytes -= sum(len(line) + 1 for line in raw)
        entry["lines"] = [ln.decode("utf-8", "replace") for ln in raw]


def _read_tail(
    sink: LogSink, count: int, budget: int, mark: Mark | None
) -> tuple[list[bytes], bool]:
    if mark is None:
        return tail_lines(sink.path, count, sink.backups, budget)
    for _ in range(2):
        rotated = sink.rotations  # an int the loop sets: read whole from this thread
        upto = Upto(rotated - mark.rotations, mark.size)
        found = tail_lines(sink.path, count, sink.backups, budget, upto)
        if sink.rotations == rotated:
            break
    return found


TRUNCATED_NOTE = (
    f"older lines left out: a reply holds at most {REPLY_LINES} lines "
    f"and {REPLY_BYTES >> 20} MiB (ask for one app, one instance or fewer lines)"
)
UNTIMED_NOTE = "skipped, its lines carry no time (set log_time = true)"
MERGED_NOTE = "stdout and stderr are merged (merge_logs = true): both are shown"


def log_entry(sink: LogSink, *, merged_note: bool) -> dict[str, Any]:
    """One log as ``getLogs`` answers it, without its lines yet."""
    entry: dict[str, Any] = {
        "app": sink.app,
        "instance": sink.index,
        "stream": sink.stream,
        "path": sink.path,
        "lines": [],
    }
    if sink.json_lines:
        entry["format"] = "json"
    if merged_note and sink.stream == "log":
        entry["note"] = MERGED_NOTE
    return entry


def newer_than_age(since: str | None) -> float | None:
    """The unix time ``since`` ("10m", "1h30m") ago, for "only newer than" queries."""
    if since is None:
        return None
    try:
        return time.time() - parse_duration(since, what="since")
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
