"""What ``followLogs`` and ``followEvents`` return: the daemon's notifications, one by one.

A stream holds a connection of its own until the caller hangs up (the
daemon answers nothing else on it), so the client opens one for each
stream and the stream ends it: when closed, when its ``with`` block ends,
when a ``for`` loop over it breaks and it is dropped, or when the daemon
ends it. Leaving a loop must not leave a connection behind in the daemon
(``tests/test_client.py`` counts them).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from typing import Any

    from procward.kit._aclient import AsyncClient as AsyncConnection
    from procward.kit._client import Client as Connection


class Notification:
    """One notification of a stream: ``method`` ("log", "event", "following",
    "dropped") and its ``params`` as sent (a log chunk, an event...)."""

    __slots__ = ("method", "params")

    def __init__(self, method: str, params: Any) -> None:
        self.method = method
        self.params = params

    def __repr__(self) -> str:
        return f"Notification({self.method!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Notification):
            return NotImplemented
        return (self.method, self.params) == (other.method, other.params)

    __hash__ = None  # type: ignore[assignment]  # params are mutable


class Stream:
    """An iterator of ``Notification``; ``close()`` (or ``with``) ends its connection."""

    def __init__(self, conn: Connection, method: str, params: dict[str, Any]) -> None:
        self._conn: Connection | None = conn
        self._items: Generator[tuple[str, Any], None, Any] = conn.stream(method, params)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Notification:
        if self._conn is None:
            raise StopIteration
        try:
            method, params = next(self._items)
        except BaseException:
            self.close()
            raise
        return Notification(method, params)

    def close(self) -> None:
        if self._conn is not None:
            self._items.close()
            self._conn.close()
            self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a loop that broke out and dropped it
        self.close()


class AsyncStream:
    """An async iterator of ``Notification``; ``aclose()`` (or ``async with``) ends it.

    It connects on the first ``__anext__``, so a method can return it
    without awaiting.
    """

    def __init__(self, opener: Any, method: str, params: dict[str, Any]) -> None:
        self._opener = opener  # async () -> AsyncConnection
        self._method = method
        self._params = params
        self._conn: AsyncConnection | None = None
        self._items: AsyncGenerator[tuple[str, Any], None] | None = None
        self._done = False

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Notification:
        if self._done:
            raise StopAsyncIteration
        try:
            items = self._items
            if items is None:
                self._conn = await self._opener()
                items = self._items = self._conn.stream(self._method, self._params)
            method, params = await anext(items)
        except BaseException:
            await self.aclose()
            raise
        return Notification(method, params)

    async def aclose(self) -> None:
        self._done = True
        items, self._items = self._items, None
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        if items is not None:
            await items.aclose()

    @property
    def closed(self) -> bool:
        return self._done

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped after a loop that broke out: end the connection now; the
        # writer's close needs no await (its wait_closed is a courtesy).
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()
        self._items = None  # asyncio finalizes the generator
