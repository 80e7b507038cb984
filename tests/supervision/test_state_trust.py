"""What the state store says when it cannot be trusted or cannot write (decision 0031)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from procward.kit._errors import CorruptFile
from procward.supervision.state import StateStore, leftovers, load, set_aside


def _blocked(path: Path) -> None:
    """A directory where the file should go: the rename over it fails, even for root."""
    path.mkdir()
    (path / "x").write_text("")


def _unblocked(path: Path) -> None:
    (path / "x").unlink()
    path.rmdir()


def test_an_unreadable_state_and_backup_are_an_error_and_stay_where_they_are(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{ not json")
    (tmp_path / "state.json.bak").write_bytes(b"[]")
    with pytest.raises(CorruptFile, match="no usable copy"):
        load(str(path))
    assert path.read_bytes() == b"{ not json"
    assert (tmp_path / "state.json.bak").read_bytes() == b"[]"


def test_set_aside_keeps_both_files_under_a_new_name(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"one")
    (tmp_path / "state.json.bak").write_bytes(b"two")
    kept = set_aside(str(path))
    assert [Path(k).read_bytes() for k in kept] == [b"one", b"two"]
    assert all(".corrupt-" in k for k in kept)
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(k) for k in kept)
    assert load(str(path)) is None  # nothing saved now: a start from cold


def test_the_store_says_why_it_could_not_save_until_a_save_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    _blocked(path)

    async def scenario() -> tuple[str | None, str | None]:
        store = StateStore(str(path), lambda: {"apps": []})
        await asyncio.wrap_future(store.flush())
        failing = store.problem
        _unblocked(path)
        await asyncio.wrap_future(store.flush())
        await store.close()
        return failing, store.problem

    failing, after = asyncio.run(scenario())
    assert failing is not None and failing.startswith(f"cannot save {path}: ")
    assert after is None


def test_an_abandoned_store_writes_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": 1, "apps": []}))
    before = path.read_bytes()

    async def scenario() -> None:
        store = StateStore(str(path), lambda: {"apps": [{"spec": {"name": "new"}}]})
        store.mark_dirty()  # a save 10 ms from now...
        store.abandon()  # ...called off
        assert store.file._pending is None

    asyncio.run(scenario())
    assert path.read_bytes() == before


def test_leftovers_skip_what_a_hand_edit_left_of_an_entry() -> None:
    odd = [1, {"pid": 0}, {"pid": 7, "starttime": "x"}]
    saved = {"apps": ["junk", {"spec": 3, "instances": "x"}, {"instances": odd}]}
    assert leftovers(saved, "/nonexistent/state-dir") == []
