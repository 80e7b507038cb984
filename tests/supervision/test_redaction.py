"""Secret values out of exec output, chunk by chunk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from procward.supervision.redaction import Redactor

VALUES = {"db": b"hunter2", "key": b"sk_live_abc", "short": b"hu"}


def fed(redactor: Redactor, chunks: list[bytes]) -> bytes:
    return b"".join(redactor.feed(c) for c in chunks) + redactor.flush()


def test_every_occurrence_is_replaced_by_its_name() -> None:
    out = Redactor(VALUES).redact(b"pw=hunter2 key=sk_live_abc hunter2 hu!")
    assert out == b"pw=<secret:db> key=<secret:key> <secret:db> <secret:short>!"


def test_a_value_split_between_chunks_is_caught() -> None:
    r = Redactor(VALUES)
    assert r.feed(b"0123456789DB=hun") == b"012345"  # the last 10 bytes may begin a value
    assert r.feed(b"ter2\nnext line") == b"6789DB=<secret:db>"
    assert r.flush() == b"\nnext line"


def test_the_longer_of_two_overlapping_values_wins() -> None:
    r = Redactor({"a": b"abc", "ab": b"abcdef"})
    assert fed(r, [b"xxabc", b"def abc"]) == b"xx<secret:ab> <secret:a>"


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_any_split_of_a_stream_gives_what_the_whole_gives(cuts: list[int]) -> None:
    data = b"a hunter2 b sk_live_abc hunter2hunter2 c hu h sk_live_ab"
    whole = Redactor(VALUES).redact(data)
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[i:j] for i, j in zip([0, *points], [*points, len(data)], strict=True)]
    assert fed(Redactor(VALUES), chunks) == whole
    assert b"hunter2" not in whole and b"sk_live_abc" not in whole


def test_the_look_back_is_bounded() -> None:
    long = b"x" * 100
    r = Redactor({"long": long}, look_back=10)
    assert len(r.feed(b"y" * 50)) == 40  # 10 held back, not 99
    assert fed(Redactor({"long": long}, look_back=10), [long]) == b"<secret:long>"


def test_without_values_output_passes_unchanged() -> None:
    r = Redactor({"empty": b""})
    assert r.feed(b"abc") == b"abc" and r.flush() == b""
