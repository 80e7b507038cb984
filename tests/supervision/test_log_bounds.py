"""Bounds of log reading and following, in process (issue 11, items 12 and 14)."""

from __future__ import annotations

import asyncio
import os

import pytest

from procward.supervision.logs import FOLLOW_BYTES, Follower, LogSink, tail_lines

MIB = 1 << 20


def test_a_follower_that_does_not_read_holds_at_most_its_bound() -> None:
    follower = Follower()
    chunk = b"y" * (64 * 1024)
    for _ in range(1000):  # 64 MiB offered
        follower.push("app", 0, "out", chunk)
    held = follower.queue.qsize() * len(chunk)
    assert held <= FOLLOW_BYTES <= 4 * MIB
    assert follower.dropped == 1000 * len(chunk) - held


def test_a_follower_that_reads_again_gets_new_chunks() -> None:
    async def scenario() -> bytes:
        follower = Follower()
        follower.push("app", 0, "out", b"x" * FOLLOW_BYTES)  # one big chunk fits when empty
        follower.push("app", 0, "out", b"late\n")
        assert follower.dropped == 5
        await follower.next()
        follower.push("app", 0, "out", b"fresh\n")
        return (await follower.next())[3]

    assert asyncio.run(scenario()) == b"fresh\n"


def sink(tmp_path, **kw) -> LogSink:
    return LogSink(
        str(tmp_path / "0.out"),
        app="a",
        index=0,
        stream="out",
        max_size=kw.pop("max_size", 1 << 30),
        backups=kw.pop("backups", 0),
    )


def test_tail_lines_stops_at_its_byte_budget(tmp_path) -> None:
    s = sink(tmp_path)
    s.write(b"".join(b"%05d\n" % i for i in range(100_000)))  # 600 kB
    s.close()
    lines, clipped = tail_lines(s.path, 100_000, 0, budget=6_000)
    assert lines == [b"%05d" % i for i in range(99_000, 100_000)]
    assert clipped
    lines, clipped = tail_lines(s.path, 10, 0, budget=6_000)
    assert len(lines) == 10 and not clipped


def test_tail_lines_does_not_read_through_a_symlink(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not a log\n")
    os.symlink(secret, tmp_path / "0.out")
    with pytest.raises(OSError, match=r"symbolic links|Too many levels"):
        tail_lines(str(tmp_path / "0.out"), 10, 0, budget=MIB)


def test_a_sink_refuses_a_symlinked_file_and_says_why(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    os.symlink(victim, tmp_path / "0.out")
    reports: list[str] = []
    s = LogSink(
        str(tmp_path / "0.out"),
        app="a",
        index=0,
        stream="out",
        max_size=MIB,
        backups=1,
        report=reports.append,
    )
    s.write(b"through the link\n")
    s.close()
    assert victim.read_text() == "untouched\n"
    assert reports and "is a symlink" in reports[0]
