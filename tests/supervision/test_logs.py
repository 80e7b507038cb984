"""Log sinks on real files: rotation at line boundaries, splitting, formats, tails."""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procward.supervision.logs import LINE_LIMIT, LogSink, tail_lines


def sink(tmp_path, **kw: object) -> LogSink:
    options: dict[str, object] = {"max_size": 1000, "backups": 50} | kw
    return LogSink(str(tmp_path / "0.out"), app="a", index=0, stream="out", **options)  # type: ignore[arg-type]


def files_oldest_first(path: str, backups: int) -> list[str]:
    names = [f"{path}.{n}" for n in range(backups, 0, -1)] + [path]
    return [n for n in names if os.path.exists(n)]


def read(path: object) -> bytes:
    with open(str(path), "rb") as f:
        return f.read()


def read_all(path: str, backups: int) -> list[bytes]:
    return [read(n) for n in files_oldest_first(path, backups)]


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.integers(0, 300), min_size=1, max_size=200),
    chunk=st.integers(1, 5000),
)
def test_rotation_keeps_every_line_whole_and_in_order(tmp_path_factory, lines, chunk) -> None:
    tmp = tmp_path_factory.mktemp("rot")
    s = sink(tmp, max_size=700, backups=1000)
    data = b"".join(b"%d:" % i + b"x" * n + b"\n" for i, n in enumerate(lines))
    for start in range(0, len(data), chunk):
        s.write(data[start : start + chunk])
    s.close()
    contents = read_all(s.path, 1000)
    assert b"".join(contents) == data, "nothing lost, duplicated or reordered"
    for content in contents[:-1]:
        assert content.endswith(b"\n"), "a rotated file ends at a line boundary"
    for content in contents:
        # A file may pass the limit only by finishing the line it was in.
        last_line = content.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        assert len(content) - len(last_line) - 1 <= 700


def test_a_file_never_exceeds_the_limit_with_short_lines(tmp_path) -> None:
    s = sink(tmp_path, max_size=1000)
    for i in range(2000):
        s.write(b"line %05d\n" % i)
    s.close()
    files = files_oldest_first(s.path, 50)
    assert len(files) > 10
    assert all(os.path.getsize(f) <= 1000 for f in files)


def test_backups_are_bounded(tmp_path) -> None:
    s = sink(tmp_path, max_size=100, backups=3)
    for i in range(1000):
        s.write(b"line %05d\n" % i)
    s.close()
    assert sorted(os.listdir(tmp_path)) == ["0.out", "0.out.1", "0.out.2", "0.out.3"]
    last = b"".join(read_all(s.path, 3)).split(b"\n")[-2]
    assert last == b"line 00999"


def test_a_huge_line_without_newline_is_split_never_dropped(tmp_path) -> None:
    s = sink(tmp_path, max_size=10 << 20)
    blob = bytes(range(97, 123)) * 40330  # ~1 MB, no newline
    for start in range(0, len(blob), 65536):
        s.write(blob[start : start + 65536])
    s.write(b"\nafter\n")
    s.close()
    content = read(s.path)
    pieces = content.split(b"\n")
    assert b"".join(pieces[:-2]) == blob
    assert all(len(p) <= LINE_LIMIT for p in pieces)
    assert pieces[-2:] == [b"after", b""]


def test_timestamps_prefix_every_line_even_across_chunks(tmp_path) -> None:
    s = sink(tmp_path, stamp=True)
    s.write(b"one\ntw")
    s.write(b"o\nthree\n")
    s.close()
    lines = read(s.path).decode().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    assert [re.sub(stamp, "", line) for line in lines] == ["one", "two", "three"]
    assert all(re.match(stamp, line) for line in lines)


def test_json_lines_and_a_partial_line_at_the_end(tmp_path) -> None:
    s = sink(tmp_path, json_lines=True)
    s.write(b"first\nsec")
    s.write(b"ond\n\xffbad utf8\nno newline")
    s.close()
    entries = [json.loads(line) for line in read(s.path).splitlines()]
    assert [e["line"] for e in entries] == ["first", "second", "\ufffdbad utf8", "no newline"]
    assert {e["app"] for e in entries} == {"a"} and {e["stream"] for e in entries} == {"out"}


def test_a_write_failure_is_reported_once_and_the_sink_recovers(tmp_path) -> None:
    reports: list[str] = []
    target = tmp_path / "gone" / "0.out"
    s = LogSink(
        str(target), app="a", index=0, stream="out", max_size=1000, backups=1, report=reports.append
    )
    for _ in range(100):
        s.write(b"lost\n")
    assert len(reports) == 1 and "cannot write" in reports[0]
    assert s.dropped == 500
    os.makedirs(target.parent)
    s.write(b"kept\n")
    s.close()
    assert target.read_bytes() == b"kept\n"


def test_truncate_empties_and_drops_backups(tmp_path) -> None:
    s = sink(tmp_path, max_size=50, backups=5)
    for i in range(100):
        s.write(b"line %03d\n" % i)
    s.truncate()
    s.write(b"fresh\n")
    s.close()
    assert os.listdir(tmp_path) == ["0.out"]
    assert read(s.path) == b"fresh\n"


@pytest.mark.parametrize("count", [0, 1, 5, 250])
def test_tail_lines_reads_into_backups(tmp_path, count: int) -> None:
    s = sink(tmp_path, max_size=300, backups=20)
    for i in range(300):
        s.write(b"%d\n" % i)
    s.close()
    got, clipped = tail_lines(s.path, count, 20, budget=1 << 20)
    assert got == [b"%d" % i for i in range(300 - count, 300)]
    assert not clipped


@settings(max_examples=60, deadline=None)
@given(
    before=st.lists(st.integers(0, 120), max_size=40),
    after=st.lists(st.integers(0, 120), max_size=40),
    open_line=st.booleans(),
)
def test_a_tail_read_at_a_mark_holds_exactly_what_was_written_before_it(
    tmp_path_factory, before, after, open_line
) -> None:
    """What a follower then gets is what was written after the mark: each line once."""
    from procward.daemon.parts.logs import read_tails

    s = sink(tmp_path_factory.mktemp("mark"), max_size=500, backups=50)
    first = b"".join(b"b%d:" % i + b"x" * n + b"\n" for i, n in enumerate(before))
    first += b"open" if open_line else b""
    s.write(first)
    mark = s.mark()
    # Written after the mark, rotating the file then current into the backups.
    s.write(b"".join(b"a%d:" % i + b"y" * n + b"\n" for i, n in enumerate(after)))
    entry: dict[str, object] = {"lines": []}
    read_tails([(s, entry, mark)], 10_000, None)
    s.close()
    expected = first.decode().split("\n")
    if expected[-1] == "":
        expected.pop()
    assert entry["lines"] == expected
    assert entry.get("open_line", False) == (open_line and bool(expected))
