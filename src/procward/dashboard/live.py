"""The dashboard's live data: Server-Sent Events made from the JSON-RPC methods.

One stream per open page for the apps (``events``): a snapshot (``status``,
plus who the token is), then every instance event as it happens, the
summaries of the apps those events touched (at most every ``REFRESH`` s),
and every ``TICK`` s all the apps again (some may have come or gone) with the
daemon's memory. One more
stream while a log is followed (``logs``): its tail, then its new output.

Nothing is computed for a dashboard nobody has open: each stream is a
generator the HTTP server runs only while its reader is connected, and the
followers it registers (``followEvents``, ``followLogs``) leave with it.

Every call goes through the registry with the token's role, so a stream
shows what ``POST /rpc`` would, no more. Each stream has a bounded queue
(``QUEUE`` frames); a producer that overruns it raises ``SlowReader`` and
the HTTP server drops the connection (and counts it): the page reconnects
and starts again from a fresh snapshot, which is cheaper and more truthful
than buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

from procward.kit import _fastjson as fastjson
from procward.kit._errors import RpcError
from procward.kit._http import SlowReader
from procward.kit._rpc import CallContext

if TYPE_CHECKING:
    from procward.kit._rpc import Notify, Peer, Registry

__all__ = ["QUEUE", "REFRESH", "TICK", "Frames", "events", "frame", "logs"]

log = logging.getLogger("procward.dashboard")

Frames = AsyncIterator[bytes]
QUEUE = 256  # frames a stream holds for its reader before it is dropped
REFRESH = 0.25  # s: the apps an event touched are sent again at most this often
TICK = 5.0  # s between the frames of all apps and their CPU and memory
TAIL = 200  # lines of a log sent before its new output


def frame(kind: str, data: Any) -> bytes:
    """One Server-Sent Event; JSON keeps the data on one line."""
    return f"event: {kind}\ndata: {fastjson.dumps(data)}\n\n".encode()


class Feed:
    """A stream's bounded queue of frames, and the tasks that fill it."""

    def __init__(self, registry: Registry, peer: Peer) -> None:
        self.registry = registry
        self.peer = peer
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE)
        self.overrun = False
        self.tasks: list[asyncio.Task[None]] = []

    async def call(self, method: str, notify: Notify | None = None, **params: Any) -> Any:
        """``method`` as ``POST /rpc`` would run it for this token (roles and all).

        A followed method's notifications go to ``notify``, else each becomes
        a frame of the same name.
        """
        entry = self.registry.lookup(method, self.peer)
        ctx = CallContext(self.peer, notify or self.notify)
        result = entry.handler(ctx, **entry.bind(params))
        return await result if entry.is_async else result

    async def notify(self, kind: str, data: Any) -> None:
        self.put(kind, data)

    def put(self, kind: str, data: Any) -> None:
        try:
            self.queue.put_nowait(frame(kind, data))
        except asyncio.QueueFull:
            self.overrun = True

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` while the stream lasts; an error it raises ends the stream, said."""
        self.tasks.append(asyncio.ensure_future(self._guarded(work)))

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except RpcError as err:
            self.put("error", {"code": err.code, "message": err.message})
        except Exception:
            log.exception("a dashboard stream failed")
            self.put("error", {"message": "the daemon failed to make this stream"})
        if not self.queue.full():  # else the reader is dropped anyway
            self.queue.put_nowait(None)

    async def frames(self) -> Frames:
        """The frames put, until a task ends the stream; ``SlowReader`` once overrun."""
        try:
            while True:
                chunk = await self.queue.get()
                if self.overrun:
                    raise SlowReader
                if chunk is None:
                    return
                yield chunk
        finally:
            for task in self.tasks:
                task.cancel()


async def events(registry: Registry, peer: Peer) -> Frames:
    """The apps: a snapshot, then events, changed apps and a metrics frame now and then."""
    feed = Feed(registry, peer)
    try:
        status = await feed.call("status")
    except RpcError as err:
        yield frame("error", {"code": err.code, "message": err.message})
        return
    you = {"role": peer.role.name.lower(), "subject": peer.subject, "expires": peer.expires}
    yield frame("snapshot", {**status, "you": you})
    touched: set[str] = set()
    feed.run(_follow_events(feed, touched))
    feed.run(_refresh(feed, touched))
    feed.run(_tick(feed))
    async for chunk in feed.frames():
        yield chunk


async def _follow_events(feed: Feed, touched: set[str]) -> None:
    async def noting(kind: str, data: Any) -> None:
        if kind == "event":
            touched.add(data["app"])
        feed.put(kind, data)

    await feed.call("followEvents", noting)


async def _refresh(feed: Feed, touched: set[str]) -> None:
    """The apps events touched, again, at most every ``REFRESH`` s."""
    while True:
        await asyncio.sleep(REFRESH)
        if touched:
            names = set(touched)
            touched.clear()
            apps = await feed.call("list")
            feed.put("apps", [app for app in apps if app["name"] in names])


async def _tick(feed: Feed) -> None:
    """Every app (some may have come or gone) and the daemon's memory, now and then.

    The apps' CPU and memory are measured once, when the page opens: with
    metrics sampling on, ``list`` carries the sampler's readings anyway, and
    the trend its last minutes (first whole, then the samples taken since);
    with it off, measuring 100 apps on demand costs the daemon ~43 ms, which
    every ``TICK`` s would be 0.9 % of a core for as long as a page is open.
    """
    feed.put("metrics", await feed.call("getMetrics"))
    newest = None  # the last sample of the trend sent: only newer ones follow
    while True:
        trends = await feed.call("getTrends", since=newest)
        if trends["times"]:  # sampling is on: the sparklines' points
            feed.put("trends", trends)
            newest = trends["times"][-1]
        await asyncio.sleep(TICK)
        feed.put("all", await feed.call("list"))
        feed.put("metrics", {"daemon": {"pid": os.getpid(), "memory": own_memory()}})


def own_memory() -> int | None:
    """The daemon's resident memory in bytes (the dashboard runs in the daemon)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


async def logs(registry: Registry, peer: Peer, app: str) -> Frames:
    """One app's logs: the last ``TAIL`` lines of each, then their new output.

    One ``followLogs`` gives both, split where following began: no line is
    lost or shown twice between the tail and what follows.
    """
    if not app:
        yield frame("error", {"message": "which app? /logs/stream?app=NAME"})
        return
    feed = Feed(registry, peer)
    feed.run(feed.call("followLogs", name=app, lines=TAIL))
    async for chunk in feed.frames():
        yield chunk
