"""``--logs``: every app's output on the daemon's own stdout and stderr, a line at a time.

As docker-compose does, each line goes out whole, after its instance's name:
``web.0  | listening on 8000`` (the names padded to one width; coloured, one
stable colour per app, when the output is a terminal and ``NO_COLOR`` is
unset). An app's stdout goes to our stdout, its stderr to our stderr (a
merged log to stdout), and the daemon's own log lines to stderr through the
same writer, so nothing is ever interleaved mid-line.

Why a thread per output, and why drops: whoever reads a container's output
(``docker logs -f``, a log shipper) may stall, and a write to a full pipe
blocks. The loop must never block (it supervises), nor should an app stop
because nobody reads the console (its log file is still written). So the
loop only appends complete lines to a bounded buffer (``BUFFER`` bytes) and
a thread writes them out. When the buffer is full, lines are dropped —
whole lines, from the first refused one until the writer has caught up —
counted, and the gap is reported in place, on the same output:
``procward | 1234 lines dropped: the output was not read fast enough``.
``LineSplitter`` (pure) makes the lines: bytes come in as the pipes give
them; a line longer than ``LINE_LIMIT`` is cut there with a marker and the
rest of it skipped.
"""

from __future__ import annotations

import os
import select
import threading
import zlib
from collections import deque

from procward.supervision.logs import LogSink

__all__ = ["BUFFER", "LINE_LIMIT", "Console", "ConsoleOutput", "LineSplitter", "prefix"]

LINE_LIMIT = 16 * 1024  # as Docker's own log lines; longer ones are cut
CUT_MARKER = b" [... line cut at 16 KiB]"
BUFFER = 8 << 20  # bytes waiting per output, written or not yet
COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)  # cyan, yellow, green, magenta, blue, bright…


class LineSplitter:
    """Bytes as a pipe gives them in, complete lines out (without their newline).

    Holds at most ``limit`` bytes of an unfinished line: past that, the line
    comes out cut, with ``CUT_MARKER``, and the rest of it is skipped.
    """

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self.partial = b""
        self.skipping = False  # the rest of a line already cut
        self.cut = 0  # lines cut, ever

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                self._hold(data[start:], lines)
                break
            if self.skipping:
                self.skipping = False
            else:
                line = self.partial + data[start:end]
                self.partial = b""
                lines.append(line if len(line) <= self.limit else self._cut(line))
            start = end + 1
        return lines

    def end(self) -> list[bytes]:
        """End of the stream: a last line without its newline is still a line."""
        line, self.partial, self.skipping = self.partial, b"", False
        return [line] if line else []

    def _hold(self, rest: bytes, lines: list[bytes]) -> None:
        if self.skipping:
            return
        self.partial += rest
        if len(self.partial) > self.limit:
            lines.append(self._cut(self.partial))
            self.partial = b""
            self.skipping = True

    def _cut(self, line: bytes) -> bytes:
        self.cut += 1
        return line[: self.limit] + CUT_MARKER


def prefix(label: str, width: int, colour: int | None) -> bytes:
    """``web.0  | `` (padded to ``width``), coloured with an ANSI code when given."""
    text = f"{label.ljust(width)} | "
    if colour is not None:
        text = f"\x1b[{colour}m{text}\x1b[0m"
    return text.encode()


def colour_of(app: str) -> int:
    """One colour per app, the same at every start (``hash()`` is salted per process)."""
    return COLOURS[zlib.crc32(app.encode()) % len(COLOURS)]


class ConsoleOutput:
    """One of our outputs (fd 1 or 2): a bounded buffer of whole lines and its writer thread."""

    def __init__(self, fd: int, limit: int = BUFFER) -> None:
        self.fd = fd
        self.limit = limit
        self.colour = os.isatty(fd) and "NO_COLOR" not in os.environ
        self._cond = threading.Condition()
        self._queue: deque[bytes] = deque()
        self._held = 0  # bytes queued or being written
        self._pending_drops = 0  # lines dropped since the last report
        self.dropped = 0  # lines dropped, ever
        self.written = 0  # lines written, ever
        self._closing = False
        self.broken = False  # the reader went away (EPIPE): nothing more is written
        self._thread = threading.Thread(target=self._run, name=f"console-{fd}", daemon=True)
        self._thread.start()

    def put(self, blob: bytes, lines: int) -> bool:
        """Queue ``lines`` whole lines (``blob``, each ending in a newline); False if dropped."""
        with self._cond:
            full = self._held > 0 and self._held + len(blob) > self.limit
            if self.broken or self._closing or self._pending_drops or full:
                self._pending_drops += lines
                self.dropped += lines
                return False
            self._queue.append(blob)
            self._held += len(blob)
            self._cond.notify()
            return True

    def close(self, timeout: float) -> bool:
        """Write what is queued, for at most ``timeout`` seconds; False if it could not."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._pending_drops and not self._closing:
                    self._cond.wait()
                if not self._queue and not self._pending_drops:
                    return  # closing, all written
                batch = b"".join(self._queue)
                self._queue.clear()
                drops = self._pending_drops
            self._write(batch)
            with self._cond:
                self._held -= len(batch)
                self.written += batch.count(b"\n")
                # The gap comes after what was queued before it; once it is taken here,
                # lines are queued again (behind the notice, written next), not dropped.
                reported = drops if drops and not self._queue else 0
                self._pending_drops -= reported
            if reported:
                self._write(_dropped_notice(reported))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.broken:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:  # someone made it non-blocking: wait until it drains
                select.select([], [self.fd], [], 1.0)
            except InterruptedError:
                continue
            except OSError:  # EPIPE, EBADF, EIO: nobody reads any more
                self.broken = True


def _dropped_notice(count: int) -> bytes:
    return (
        f"procward | {count} line{'s' if count != 1 else ''} dropped: "
        "the output was not read fast enough\n"
    ).encode()


class Console:
    """The mirror of every app's output; ``attach`` each ``LogSink`` as it is opened."""

    def __init__(
        self, *, log_files: bool = True, fds: tuple[int, int] = (1, 2), limit: int = BUFFER
    ) -> None:
        self.log_files = log_files
        self.stdout = ConsoleOutput(fds[0], limit)
        self.stderr = ConsoleOutput(fds[1], limit)
        self.width = len("procward")

    def attach(self, sink: LogSink) -> None:
        label = f"{sink.app}.{sink.index}"
        self.width = max(self.width, len(label))
        output = self.stderr if sink.stream == "err" else self.stdout
        sink.mirror = SinkMirror(self, label, sink.app, output)
        sink.to_file = self.log_files

    def close(self, timeout: float) -> bool:
        """Write out what is queued (both outputs, ``timeout`` in all); False if stalled."""
        done = self.stdout.close(timeout / 2)
        return self.stderr.close(timeout / 2) and done

    @property
    def dropped(self) -> int:
        return self.stdout.dropped + self.stderr.dropped


class SinkMirror:
    """One sink's side of the console: its lines, prefixed, to its output."""

    def __init__(self, console: Console, label: str, app: str, output: ConsoleOutput) -> None:
        self.console = console
        self.label = label
        self.colour = colour_of(app) if output.colour else None
        self.output = output
        self.lines = LineSplitter()

    def write(self, data: bytes) -> None:
        self._put(self.lines.feed(data))

    def end_of_stream(self) -> None:
        self._put(self.lines.end())

    def _put(self, lines: list[bytes]) -> None:
        if not lines:
            return
        head = prefix(self.label, self.console.width, self.colour)
        blob = b"".join(head + line + b"\n" for line in lines)
        self.output.put(blob, len(lines))


class ConsoleText:
    """A text stream for ``logging.StreamHandler``: the daemon's own lines, through the console."""

    def __init__(self, output: ConsoleOutput) -> None:
        self.output = output
        self._partial = ""

    def write(self, text: str) -> int:
        whole, newline, self._partial = (self._partial + text).rpartition("\n")
        if newline:
            blob = (whole + "\n").encode(errors="replace")
            self.output.put(blob, blob.count(b"\n"))
        return len(text)

    def flush(self) -> None:
        """Nothing to flush: each whole line was queued as it came."""
