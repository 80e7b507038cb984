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


class PipeReader:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        sink: LogSink,
        on_eof: Callable[[PipeReader], None] = lambda _r: None,
    ) -> None:
        self.loop = loop
        self.fd = fd
        self.sink = sink
        self.on_eof = on_eof
        self.bytes = 0
        loop.add_reader(fd, self._readable)

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
            self.loop.remove_reader(fd)
        return fd

    def close(self) -> None:
        if self.fd < 0:
            return
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
        self.sink.flush_partial()
        self.on_eof(self)


def _has_data(fd: int) -> bool:
    import select

    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)
