"""Reading children's output from pipes into their log sinks.

One non-blocking pipe per stream, watched by the event loop (no thread per
child), read in chunks of up to 1 MiB. The pipe is enlarged to 1 MiB (the
unprivileged maximum on Linux) so a burst waits in the kernel rather than
blocking the child. What happens when the daemon falls behind anyway: the
pipe fills, then the child's next write blocks until the daemon reads; it is
never lost, and the daemon reads as fast as it can write files.

A reader lives until end-of-file, not until its process exits: a grandchild
may still hold the pipe, and the last bytes of a dying process are still in
it when its exit is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import weakref
from collections.abc import Callable

from procward.supervision.logs import LogSink

CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031


def open_pipe() -> tuple[int, int]:
    """``(read end, write end)``; the read end is non-blocking and close-on-exec."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_end, _F_SETPIPE_SZ, CHUNK)
    os.set_blocking(read_end, False)
    return read_end, write_end


class Pipes:
    """Every pipe of a loop's children, watched through one epoll descriptor of ours.

    The loop watches that one descriptor; when it is readable, one
    ``epoll_wait`` says which pipes are, each read in turn (at most
    ``BATCH`` a pass; level-triggered, so the rest are said again at the
    next). Why not ``loop.add_reader`` per pipe: each cost ~600 bytes of
    handles, two an instance, 1.2 KiB of a daemon's 12 KiB an app.
    """

    BATCH = 256

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # the loop holds us, through the watch
        self._epoll: select.epoll | None = None
        self._readers: dict[int, PipeReader] = {}

    def add(self, reader: PipeReader) -> None:
        if self._epoll is None:
            loop = self._loop()
            assert loop is not None
            self._epoll = select.epoll()  # close-on-exec
            loop.add_reader(self._epoll.fileno(), self._ready)
        self._epoll.register(reader.fd, select.EPOLLIN)
        self._readers[reader.fd] = reader

    def remove(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None and self._epoll is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def _ready(self) -> None:
        assert self._epoll is not None
        for fd, _events in self._epoll.poll(0, self.BATCH):
            reader = self._readers.get(fd)
            if reader is not None:
                reader._readable()


_PIPES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pipes] = weakref.WeakKeyDictionary()


def pipes_of(loop: asyncio.AbstractEventLoop) -> Pipes:
    """``loop``'s ``Pipes``, made at its first pipe."""
    pipes = _PIPES.get(loop)
    if pipes is None:
        pipes = _PIPES[loop] = Pipes(loop)
    return pipes


class PipeReader:
    __slots__ = ("bytes", "fd", "on_eof", "pipes", "sink")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        sink: LogSink,
        on_eof: Callable[[PipeReader], None] = lambda _r: None,
    ) -> None:
        self.pipes = pipes_of(loop)
        self.fd = fd
        self.sink = sink
        self.on_eof = on_eof
        self.bytes = 0
        self.pipes.add(self)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.bytes += len(data)
        self.sink.write(data)

    def drain(self) -> None:
        """Read what is left without waiting (at shutdown), then close."""
        while self.fd >= 0:
            self._readable()
            if self.fd >= 0 and not _has_data(self.fd):
                self.close()

    def detach(self) -> int:
        """Stop reading without closing: the pipe goes to the next program (upgrade)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            self.pipes.remove(fd)
        return fd

    def close(self) -> None:
        if self.fd < 0:
            return
        self.pipes.remove(self.fd)
        os.close(self.fd)
        self.fd = -1
        self.sink.flush_partial()
        self.on_eof(self)


def _has_data(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)
