"""The console mirror: lines made whole from any chunking, cut when too long, prefixed,
written by a thread that never makes its caller wait and counts what it drops."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit.testing import wait_for
from procward.supervision.console import (
    CUT_MARKER,
    Console,
    ConsoleOutput,
    LineSplitter,
    colour_of,
    prefix,
)
from procward.supervision.logs import LogSink


def split_all(chunks: list[bytes], limit: int = 16) -> list[bytes]:
    splitter = LineSplitter(limit)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.end()


def test_lines_come_out_whole_whatever_the_chunks() -> None:
    assert split_all([b"ab", b"c\nde", b"f\n\ng"]) == [b"abc", b"def", b"", b"g"]


def test_a_last_line_without_its_newline_comes_out_at_the_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"partial") == []
    assert splitter.end() == [b"partial"]
    assert splitter.end() == []


def test_a_long_line_is_cut_at_the_limit_with_a_marker_and_its_rest_skipped() -> None:
    splitter = LineSplitter(8)
    assert splitter.feed(b"0123456789") == [b"01234567" + CUT_MARKER]
    assert splitter.feed(b"more of it") == []
    assert splitter.feed(b" still\nnext\n") == [b"next"]
    assert splitter.cut == 1
    assert split_all([b"x" * 20 + b"\nshort\n"], limit=8) == [b"x" * 8 + CUT_MARKER, b"short"]


@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
)
def test_any_chunking_gives_the_same_lines(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    chunks, at = [], 0
    for size in cuts * (len(data) // sum(cuts) + 1):
        chunks.append(data[at : at + size])
        at += size
    expected = [line if len(line) <= 16 else line[:16] + CUT_MARKER for line in lines]
    assert split_all(chunks) == expected


def test_the_prefix_is_padded_and_coloured_only_when_asked() -> None:
    assert prefix("web.0", 8, None) == b"web.0    | "
    assert prefix("web.0", 3, 36) == b"\x1b[36mweb.0 | \x1b[0m"
    assert colour_of("web") == colour_of("web")  # stable: not Python's salted hash()
    assert len({colour_of(name) for name in ("web", "worker", "db", "cache", "api")}) > 1


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


def read_all(fd: int, until: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + 10
    while until not in data:
        assert time.monotonic() < deadline, data[-200:]
        data += os.read(fd, 1 << 16)
    return data


def test_a_stalled_reader_costs_drops_counted_and_reported_never_a_wait(
    pipe: tuple[int, int],
) -> None:
    read_end, write_end = pipe
    output = ConsoleOutput(write_end, limit=64 * 1024)
    line = b"x" * 99 + b"\n"
    started = time.monotonic()
    accepted = sum(output.put(line * 10, 10) for _ in range(1000))  # 1 MB; nobody reads
    assert time.monotonic() - started < 1.0  # the pipe (64 KiB) filled: put never waited
    assert 0 < accepted < 1000 and output.dropped == (1000 - accepted) * 10
    data = read_all(read_end, b"dropped")
    while not data.endswith(b"\n"):
        data += os.read(read_end, 1 << 16)
    kept = data.split(b"procward | ")[0]
    assert kept == line * (accepted * 10)  # everything before the gap, whole, in order
    assert f"{output.dropped} lines dropped".encode() in data
    assert output.put(b"after\n", 1)  # once reported, lines flow again
    assert read_all(read_end, b"after\n").endswith(b"after\n")
    assert output.close(5)


def test_a_sink_mirrors_whole_prefixed_lines_and_may_write_no_file(
    tmp_path: object, pipe: tuple[int, int]
) -> None:
    read_end, write_end = pipe
    console = Console(log_files=False, fds=(write_end, write_end))
    path = os.path.join(str(tmp_path), "0.out")
    sink = LogSink(path, app="web", index=0, stream="out", max_size=1 << 20, backups=1)
    console.attach(sink)
    sink.write(b"one\ntw")
    sink.write(b"o\nthree")
    sink.close()  # the end of its stream: "three" is a line too
    assert read_all(read_end, b"three\n") == b"web.0    | one\nweb.0    | two\nweb.0    | three\n"
    assert not os.path.exists(path)
    wait_for(lambda: console.stdout.written == 3, what="3 lines written")
    assert console.close(5) and console.dropped == 0


def test_colour_only_on_a_terminal_and_not_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    controller, terminal = os.openpty()
    read_end, write_end = os.pipe()
    try:
        monkeypatch.delenv("NO_COLOR", raising=False)
        outputs = [ConsoleOutput(terminal), ConsoleOutput(write_end)]
        monkeypatch.setenv("NO_COLOR", "1")
        outputs.append(ConsoleOutput(terminal))
        assert [output.colour for output in outputs] == [True, False, False]
        for output in outputs:
            assert output.close(5)
    finally:
        for fd in (controller, terminal, read_end, write_end):
            os.close(fd)
