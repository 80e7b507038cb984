"""SavedFile: written when changed, in a thread or at once; a failed write is tried again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from procward.daemon.savedfile import SavedFile


class History:
    def __init__(self) -> None:
        self.value = 0
        self.dirty = False

    def change(self) -> None:
        self.value += 1
        self.dirty = True

    def take(self) -> bytes | None:
        if not self.dirty:
            return None
        self.dirty = False
        return json.dumps(self.value).encode()


def saved_file(path: Path, history: History) -> SavedFile:
    return SavedFile(str(path), "test history", history.take, history.change)


def test_written_only_when_changed_and_the_previous_kept(tmp_path: Path) -> None:
    history, path = History(), tmp_path / "h.json"
    file = saved_file(path, history)

    async def scenario() -> None:
        file.save_soon()  # nothing changed: nothing written
        await file.save()
        assert not path.exists()
        history.change()
        file.save_soon()  # in a thread
        await file.save()  # waits for it
        history.change()
        await file.save()

    asyncio.run(scenario())
    assert json.loads(path.read_text()) == 2
    assert json.loads((tmp_path / "h.json.bak").read_text()) == 1
    assert file.load(json.loads) == 2


def test_a_failed_write_is_logged_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "dir"
    blocker.write_text("a file where a directory should be")
    history = History()
    file = saved_file(blocker / "h.json", history)
    history.change()
    asyncio.run(file.save())
    assert history.dirty  # will be written next time
    assert "cannot save the test history" in caplog.text


def test_a_save_that_keeps_failing_is_logged_once_until_one_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "dir"
    blocker.write_text("a file where a directory should be")  # as a full disk: every save fails
    history = History()
    file = saved_file(blocker / "h.json", history)

    async def scenario() -> None:
        for _ in range(3):
            history.change()
            await file.save()
        blocker.unlink()
        blocker.mkdir()
        await file.save()

    asyncio.run(scenario())
    assert caplog.text.count("cannot save the test history") == 1
    assert "saved the test history" in caplog.text


def test_an_unreadable_file_is_logged_and_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h.json"
    path.write_text("{not json")
    assert saved_file(path, History()).load(json.loads) is None
    assert "test history unreadable, starting a new one" in caplog.text
