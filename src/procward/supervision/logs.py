"""Where an instance's output goes: files rotated at line boundaries, and followers.

The hot path is a chunk read from a pipe (up to 1 MiB) written with one
``os.write``: no per-line Python unless the app asked for timestamps or JSON.
Rotation is by rename (``kit.rotation``) and reopen, done by the daemon
itself, never copy and truncate: when a write would cross ``log_max_size``,
the chunk is cut after its last newline that still fits (or, if none does,
after the first newline), so a file always ends at the end of a line, no
line is split across two files, lost or written twice. A line with no newline in sight is cut every
``LINE_LIMIT`` bytes (a newline is inserted): split, never dropped.

A write that fails (disk full, directory gone or unwritable) is reported once
per sink and the data is dropped while it fails: the pipe keeps being
drained, so the app never blocks on a full pipe; the next chunk tries again,
and the recovery is reported too.

Followers (``logs -f``) get a copy of every chunk through a bounded queue; a
follower that cannot keep up loses chunks (and is told how many bytes), it
never makes the daemon buffer without bound. A ``mirror`` (``run --logs``,
``console.py``) gets every chunk too, and the end of each pipe's stream;
with ``to_file`` False it is the only place the output goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

from procward.kit import _rotation as rotation
from procward.kit._structs import Struct, field

log = logging.getLogger("procward.supervision.logs")
LINE_LIMIT = 64 * 1024
FOLLOW_QUEUE = 256  # chunks a follower may lag behind...
FOLLOW_BYTES = 2 << 20  # ...and bytes: a follower that does not read holds no more


class Follower(Struct, frozen=False, eq=False):
    """One ``followLogs`` subscription: chunks in, bounded in count and in bytes.

    Past either bound new chunks are dropped and counted (the follower is
    told how many bytes it missed): a client that does not read costs the
    daemon at most FOLLOW_BYTES and one chunk, never the whole output of the apps.
    """

    queue: asyncio.Queue[tuple[str, int, str, bytes]] = field(
        default_factory=lambda: asyncio.Queue(FOLLOW_QUEUE)
    )
    dropped: int = 0  # bytes lost because the follower lagged
    held: int = 0  # bytes in the queue

    def push(self, app: str, index: int, stream: str, data: bytes) -> None:
        if (self.held and self.held + len(data) > FOLLOW_BYTES) or self.queue.full():
            self.dropped += len(data)
            return
        self.queue.put_nowait((app, index, stream, data))
        self.held += len(data)

    async def next(self) -> tuple[str, int, str, bytes]:
        chunk = await self.queue.get()
        self.held -= len(chunk[3])
        return chunk


class Mark(NamedTuple):
    """Where a sink's output stood at one moment: what a tail reads up to, no further.

    Taken in the same step as a follower is added, it splits the output
    exactly: everything before is in the files, everything after reaches
    the follower, so a tail then a follow shows each line once.
    """

    rotations: int  # the sink's rotations so far: the file then current may be a backup now
    size: int  # bytes in that file
    open_line: bool  # it ended inside a line, whose end the follower gets


class Upto(NamedTuple):
    """A ``Mark`` as the files stand now: which of them was current, and its size then."""

    rotated_since: int
    size: int


class Mirror(Protocol):
    """Where a copy of a sink's output goes as it is written (``console.SinkMirror``)."""

    def write(self, data: bytes) -> None: ...

    def end_of_stream(self) -> None:
        """A pipe into the sink reached its end: a line left without its newline is whole."""
        ...


NOBODY: frozenset[Any] = frozenset()  # one for all (Python 3.10+ makes a new empty one each call)


class LogSink:
    """One log file (``<n>.out``, ``<n>.err`` or merged ``<n>.log``) and its backups."""

    def __init__(
        self,
        path: str,
        *,
        app: str,
        index: int,
        stream: str,
        max_size: int,
        backups: int,
        stamp: bool = False,
        json_lines: bool = False,
        report: Callable[[str], None] | None = None,
        owner: tuple[int, int] | None = None,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        # Called before the directory is first used: makes it (``App.make_log_dir``).
        self.prepare = prepare
        # (uid, gid) each file it opens is given to (``log_owner = "app"``); the
        # directory stays the daemon's, so that its user cannot plant a link in it.
        self.owner = owner
        self.app = app
        self.index = index
        self.stream = stream
        self.max_size = max_size
        self.backups = backups
        self.stamp = stamp
        self.json_lines = json_lines
        self.report = report or (lambda text: log.error("%s", text))
        # Made with the first follower: an empty set is 216 bytes, two an instance.
        self.followers: set[Follower] | frozenset[Follower] = NOBODY
        self.mirror: Mirror | None = None
        self.to_file = True  # False: the mirror alone gets the output (``--no-log-files``)
        self.fd: int | None = None
        self.size = 0
        self.tail = 0  # bytes after the last newline in the file
        self.at_line_start = True
        self.pending = b""  # json mode: the unterminated end of the last chunk
        self.failing: str | None = None
        self.dropped = 0
        self.rotations = 0

    def follow(self, follower: Follower) -> None:
        if not isinstance(self.followers, set):
            self.followers = set()
        self.followers.add(follower)

    def unfollow(self, follower: Follower) -> None:
        if isinstance(self.followers, set):
            self.followers.discard(follower)

    def mark(self) -> Mark:
        """Where the output stands now (see ``Mark``)."""
        return Mark(self.rotations, self.size, self.tail > 0)

    # -- writing ------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.json_lines:
            data = self._as_json(data)
        elif self.stamp:
            data = self._stamped(data)
        if data and self.to_file:
            self._emit(data)
        if self.mirror is not None:
            self.mirror.write(data)
        for follower in self.followers:
            follower.push(self.app, self.index, self.stream, data)

    def flush_partial(self) -> None:
        """At EOF: a json-mode line without its newline is still a line."""
        if self.json_lines and self.pending:
            data, self.pending = self.pending, b""
            self.write(data + b"\n")
        if self.mirror is not None:
            self.mirror.end_of_stream()

    def _emit(self, data: bytes) -> None:
        if self.fd is None and not self._open():
            self.dropped += len(data)
            return
        while data:
            cut, split, rotate = self._plan(data)
            self._write_all(data[:cut] + b"\n" if split else data[:cut])
            data = data[cut:]
            if rotate:
                self.rotate()
            if self.fd is None:
                self.dropped += len(data)
                return

    def _plan(self, data: bytes) -> tuple[int, bool, bool]:
        """How much of ``data`` goes into the current file: (bytes, split?, rotate after?)."""
        room = self.max_size - self.size
        last = data.rfind(b"\n")
        tail_after = self.tail + len(data) if last < 0 else len(data) - last - 1
        if len(data) <= room and tail_after <= LINE_LIMIT:
            return len(data), False, False
        if len(data) > room:
            fits = data.rfind(b"\n", 0, room) if room > 0 else -1
            if fits >= 0:
                return fits + 1, False, True  # end the file after a whole line
            if self.size > 0 and self.tail == 0:
                return 0, False, True  # the file ends at a line: start the next one
        # Finish the line in hand here (even past max_size), or split it if too long.
        limit = LINE_LIMIT - self.tail
        if limit <= 0:
            return 0, True, len(data) > room  # end the over-long line right here
        first = data.find(b"\n")
        if 0 <= first < limit:
            return first + 1, False, len(data) > room
        if first < 0 and len(data) <= limit:
            return len(data), False, False  # the line goes on: rotate after its end
        return limit, True, len(data) > room

    def _write_all(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self._failed(exc)
            self.dropped += len(view)
            return
        self.size += len(data)
        newline = data.rfind(b"\n")
        self.tail = len(data) - newline - 1 if newline >= 0 else self.tail + len(data)
        if self.failing is not None:
            log.warning("%s: writing %s works again", self.label, self.path)
            self.failing = None

    def rotate(self) -> None:
        """``log.N-1`` → ``log.N`` ... ``log`` → ``log.1``, then a fresh ``log``."""
        self._close()
        try:
            with self._directory() as here:
                rotation.rotate(os.path.basename(self.path), self.backups, dir_fd=here)
        except FileNotFoundError:  # no directory
            pass
        except OSError as exc:
            self._failed(exc)
        self.rotations += 1
        self._open()

    @contextlib.contextmanager
    def _directory(self) -> Iterator[int]:
        """The log's directory, opened without following a symlink: files are
        opened, renamed and deleted under it, so a directory planted as a
        link to somewhere else is refused (ELOOP) instead of written through."""
        prepare, self.prepare = self.prepare, None
        if prepare is not None:
            prepare()
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(os.path.dirname(self.path), flags)
        try:
            yield fd
        finally:
            os.close(fd)

    def reopen(self) -> None:
        """Follow an external rotation (logrotate moved the file): open by name."""
        self._close()
        if self.to_file:
            self._open()

    def _open(self) -> bool:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            with self._directory() as here:
                self.fd = os.open(os.path.basename(self.path), flags, 0o640, dir_fd=here)
            if self.owner is not None:
                os.fchown(self.fd, *self.owner)
            self.size = os.fstat(self.fd).st_size
        except OSError as exc:
            self._failed(exc)
            self.fd = None
            return False
        self.tail = 0
        return True

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        self.flush_partial()
        self._close()

    def hand_over(self) -> dict[str, object]:
        """Close for an in-place upgrade: what the next sink needs to go on mid-line."""
        state = {"pending": self.pending.decode("latin-1"), "at_line_start": self.at_line_start}
        self.pending = b""
        self._close()
        return state

    def take_over(self, state: dict[str, object]) -> None:
        """Go on where the sink of the previous program stopped (``hand_over``)."""
        self.pending = str(state.get("pending", "")).encode("latin-1")
        self.at_line_start = bool(state.get("at_line_start", True))

    def truncate(self) -> None:
        """``procward flush``: empty the file and delete its backups."""
        name = os.path.basename(self.path)
        try:
            with self._directory() as here:
                for old in rotation.rotated_names(name, self.backups)[1:]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(old, dir_fd=here)
        except OSError as exc:
            self._failed(exc)
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
        self.size = self.tail = 0

    def _failed(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "the disk is full"
        elif exc.errno in (errno.ELOOP, errno.ENOTDIR):
            reason = "it or its directory is a symlink (logs are not written through links)"
        if self.failing != reason:  # once per problem, not once per line
            self.report(
                f"cannot write its log {self.path}: {reason}; "
                "output is dropped until it works again (the app runs on)"
            )
            self.failing = reason

    @property
    def label(self) -> str:
        return f"{self.app}:{self.index} {self.stream}"

    @property
    def timed(self) -> bool:
        """Do its lines carry their time (``log_time`` or ``log_format = "json"``)?"""
        return self.stamp or self.json_lines

    # -- formats -----------------------------------------------------------------------

    def _stamped(self, data: bytes) -> bytes:
        stamp = _now_stamp() + b" "
        body = _split_long(data, self.tail if not self.at_line_start else 0)
        out = body.replace(b"\n", b"\n" + stamp)
        if body.endswith(b"\n"):
            out = out[: -len(stamp)]
        if self.at_line_start:
            out = stamp + out
        self.at_line_start = body.endswith(b"\n")
        return out

    def _as_json(self, data: bytes) -> bytes:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        while len(self.pending) > LINE_LIMIT:
            lines.append(self.pending[:LINE_LIMIT])
            self.pending = self.pending[LINE_LIMIT:]
        if not lines:
            return b""
        when = time.time()
        head = {"time": round(when, 3), "app": self.app, "instance": self.index}
        out = []
        for line in _chunks_of(lines):
            text = line.decode("utf-8", "replace")
            entry = {**head, "stream": self.stream, "line": text}
            out.append(json.dumps(entry, ensure_ascii=False).encode())
        return b"\n".join(out) + b"\n"


def _split_long(data: bytes, tail: int) -> bytes:
    """Insert newlines so that no line exceeds LINE_LIMIT (rare: only long lines pay)."""
    if len(data) + tail <= LINE_LIMIT or not _may_hold_a_long_line(data, tail):
        return data
    parts = []
    for whole in data.split(b"\n"):
        rest = whole
        while len(rest) + tail > LINE_LIMIT:
            cut = LINE_LIMIT - tail
            parts.append(rest[:cut] + b"\n")
            rest, tail = rest[cut:], 0
        parts.append(rest + b"\n")
        tail = 0
    joined = b"".join(parts)
    return joined if data.endswith(b"\n") else joined[:-1]


def _may_hold_a_long_line(data: bytes, tail: int) -> bool:
    """A cheap test before the per-line loop: ~32 C-level searches per MiB.

    A line longer than LINE_LIMIT covers a whole aligned window of half that
    size, so if every window holds a newline (and the line carried over from
    the last chunk ends soon enough), no line is too long.
    """
    first = data.find(b"\n")
    if first < 0 or tail + first > LINE_LIMIT:
        return True
    window = LINE_LIMIT // 2
    return any(data.find(b"\n", at, at + window) < 0 for at in range(0, len(data), window))


def _chunks_of(lines: list[bytes]) -> Iterator[bytes]:
    for line in lines:
        for start in range(0, max(len(line), 1), LINE_LIMIT):
            yield line[start : start + LINE_LIMIT]


def _now_stamp() -> bytes:
    now = time.time()
    millis = int(now * 1000) % 1000
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z").encode()


# -- reading --------------------------------------------------------------------------


def tail_lines(
    path: str, count: int, backups: int, budget: int, upto: Upto | None = None
) -> tuple[list[bytes], bool]:
    """The last ``count`` lines of a log, reaching into its backups if needed.

    At most ``budget`` bytes of lines (newlines counted); the flag says
    whether older lines were left out for it. ``upto``: the lines as they
    stood at a ``Mark``, nothing written since (see ``LogSink.mark``).
    """
    lines: list[bytes] = []
    clipped = False
    names = rotation.rotated_names(path, backups)
    end = None
    if upto is not None:
        names, end = names[upto.rotated_since :], upto.size
    for name in names:
        if len(lines) >= count or clipped:
            break
        try:
            older, clipped = _last_lines(name, count - len(lines), budget, end=end)
        except FileNotFoundError:
            continue
        finally:
            end = None  # only the file that was current at the mark is cut
        budget -= sum(len(line) + 1 for line in older)
        lines = older + lines
    return lines[-count:] if count else [], clipped


def _last_lines(
    path: str, count: int, budget: int, block: int = 1 << 16, end: int | None = None
) -> tuple[list[bytes], bool]:
    """Read backwards in blocks until ``count`` lines or ``budget`` bytes are in hand.

    Each block's newlines are counted once (not the whole of what was read
    at every step), and nothing past ``budget`` plus one block is ever read.
    O_NOFOLLOW: a log planted as a symlink is not read through. ``end``: read
    as if the file ended there.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        end = size if end is None else min(end, size)
        blocks: list[bytes] = []
        newlines = held = 0
        while end > 0 and newlines <= count and held < budget:
            start = max(0, end - block)
            f.seek(start)
            blocks.append(f.read(end - start))
            newlines += blocks[-1].count(b"\n")
            held += len(blocks[-1])
            end = start
    lines = b"".join(reversed(blocks)).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if end > 0:
        lines = lines[1:]  # the first is probably cut
    lines = lines[-count:]
    kept, size = len(lines), 0
    while kept > 0 and size + len(lines[kept - 1]) + 1 <= budget:
        kept -= 1
        size += len(lines[kept]) + 1
    clipped = kept > 0 or (end > 0 and len(lines) < count and held >= budget)
    return lines[kept:], clipped


def newer_than(sink: LogSink, lines: list[bytes], cutoff: float) -> list[bytes]:
    """The lines written after ``cutoff`` (unix time); only timed logs know that."""
    if sink.json_lines:
        return [ln for ln in lines if _json_time(ln) >= cutoff]
    if sink.stamp:
        edge = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff))
            + f".{int(cutoff * 1000) % 1000:03d}Z"
        ).encode()
        return [ln for ln in lines if ln[: len(edge)] >= edge]  # ISO times sort as text
    from procward.kit._errors import InvalidParams

    raise InvalidParams(f"{sink.app}: its lines carry no time; set log_time = true to use --since")


def _json_time(line: bytes) -> float:
    try:
        return float(json.loads(line)["time"])
    except (ValueError, KeyError, TypeError):
        return 0.0
