"""StateStore: coalesced saves and the 30 s baseline (supervision/state.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path

from procward.supervision.state import StateStore


async def _settle(write: concurrent.futures.Future[None] | None) -> None:
    if write is not None:
        await asyncio.wrap_future(write)


def test_the_baseline_writes_what_changed_or_a_file_that_is_not_ours(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")

    async def scenario() -> list[int]:
        store = StateStore(path, lambda: {"apps": []})
        writes = []
        await _settle(store.flush())  # the start's save
        writes.append(store.writes)
        await _settle(store.baseline())  # nothing changed, the file is as we left it: no write
        writes.append(store.writes)
        os.unlink(path)  # removed behind our back: written again
        await _settle(store.baseline())
        writes.append(store.writes)
        with open(path, "w") as f:
            f.write("{")  # damaged: written again
        await _settle(store.baseline())
        writes.append(store.writes)
        store.mark_dirty()  # a change whose save is still pending: written
        await _settle(store.baseline())
        writes.append(store.writes)
        await store.close()
        return writes

    assert asyncio.run(scenario()) == [1, 1, 2, 3, 4]
    assert os.path.exists(path)


def test_a_failed_write_is_tried_again_at_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # in the way: the rename over it fails, even for root
    (path / "x").write_text("")

    async def scenario() -> tuple[int, int]:
        store = StateStore(str(path), lambda: {"apps": []})
        await _settle(store.flush())
        failed = store.writes
        (path / "x").unlink()
        path.rmdir()  # the disk is usable again; nothing changed meanwhile
        await _settle(store.baseline())
        await store.close()
        return failed, store.writes

    assert asyncio.run(scenario()) == (0, 2)  # the retry, and close's final write
    assert path.is_file()
