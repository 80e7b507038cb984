"""The upgrade hand-over as a record: written, read back, and refused when it cannot be trusted."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from procward.kit import _handover as handover
from procward.kit._handover import VERSION, Handover, Listener, Unreadable, parse

HANDED = Handover(
    version=VERSION,
    lock_fd=3,
    socket_fd=4,
    bound_socket=False,
    network={"tcp": Listener(fd=5, address="127.0.0.1:9700")},
    app={"instances": [{"pid": 42}]},
    stop="SIGTERM",
    fds=[3, 4, 5],
)


def test_what_is_written_is_read_back(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()  # a real descriptor: write() makes it inheritable
    path = str(tmp_path / "handover.json")
    handed = Handover(version=VERSION, lock_fd=r, socket_fd=w, fds=[r, w])
    try:
        handover.write(path, handed)
        assert os.get_inheritable(r) and os.get_inheritable(w)
        monkeypatch.setenv("TINY_HANDOVER", path)
        assert handover.take("tiny") == handed
    finally:
        os.close(r)
        os.close(w)
    assert not os.path.exists(path) and "TINY_HANDOVER" not in os.environ


def test_no_hand_over_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINY_HANDOVER", raising=False)
    assert handover.take("tiny") is None


def raw(**changes: Any) -> bytes:
    return json.dumps({**HANDED.as_dict(), **changes}).encode()


def test_a_record_round_trips() -> None:
    assert parse(raw()) == HANDED


def test_one_from_a_program_before_the_record_is_read() -> None:
    # They wrote "format": 1 and no "version"; the fields were the same.
    old = {k: v for k, v in HANDED.as_dict().items() if k != "version"}
    assert parse(json.dumps({**old, "format": 1}).encode()) == HANDED


def test_a_program_before_the_record_can_read_what_this_one_writes(tmp_path: Any) -> None:
    path = str(tmp_path / "handover.json")
    handover.write(path, Handover(version=VERSION, lock_fd=3, socket_fd=4, fds=[]))
    with open(path) as f:
        assert json.load(f)["format"] == 1  # what they checked


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (raw(version=2), "of version 2, this program reads version 1"),
        (raw(version=None, format=None), "of version None"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a hand-over"),
        (raw(lock_fd="3"), "lock_fd: expected int, got str"),
        (raw(network={"tcp": {"fd": 5}}), r"network\['tcp'\].address: missing"),
        (json.dumps({"version": VERSION, "socket_fd": 4}).encode(), "lock_fd: missing"),
    ],
)
def test_what_cannot_be_trusted_is_refused_saying_why(data: bytes, why: str) -> None:
    with pytest.raises(Unreadable, match=why):
        parse(data)


def test_an_unreadable_hand_over_is_removed_all_the_same(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "handover.json"
    path.write_bytes(raw(version=99))
    monkeypatch.setenv("TINY_HANDOVER", str(path))
    with pytest.raises(Unreadable, match="version 99"):
        handover.take("tiny")
    assert not path.exists() and "TINY_HANDOVER" not in os.environ


def test_a_missing_hand_over_file_is_unreadable(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINY_HANDOVER", str(tmp_path / "gone.json"))
    with pytest.raises(Unreadable, match="cannot read the hand-over"):
        handover.take("tiny")
