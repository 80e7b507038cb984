"""Crash-safe writes with a .bak of the previous version, and reads that fall back to it."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from procward.kit._atomic import backup_path, read_with_fallback, write_atomic
from procward.kit._errors import CorruptFile


def read(path: Path | str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_writes_the_content_private_by_default(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(str(target), b'{"a": 1}')
    assert read(target) == b'{"a": 1}'
    assert mode_of(target) == 0o600
    assert os.listdir(tmp_path) == ["state.json"]  # no .bak without backup=True


def test_write_atomic_honours_an_explicit_mode(tmp_path: Path) -> None:
    target = tmp_path / "public"
    old_umask = os.umask(0o022)
    try:
        write_atomic(str(target), b"x", mode=0o644)
    finally:
        os.umask(old_umask)
    assert mode_of(target) == 0o644


def test_write_atomic_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write(target, b"old and longer")
    os.chmod(target, 0o666)
    write_atomic(str(target), b"new")
    assert read(target) == b"new"
    assert mode_of(target) == 0o600


def test_backup_keeps_the_previous_version(tmp_path: Path) -> None:
    target = str(tmp_path / "state.json")
    write_atomic(target, b"v1", backup=True)
    assert not os.path.exists(backup_path(target))  # first write: nothing to keep
    write_atomic(target, b"v2", backup=True)
    assert (read(target), read(backup_path(target))) == (b"v2", b"v1")
    write_atomic(target, b"v3", backup=True)
    assert (read(target), read(backup_path(target))) == (b"v3", b"v2")
    assert sorted(os.listdir(tmp_path)) == ["state.json", "state.json.bak"]


def test_write_atomic_handles_large_and_empty_content(tmp_path: Path) -> None:
    target = str(tmp_path / "big")
    data = os.urandom(3 << 20)
    write_atomic(target, data)
    assert read(target) == data
    write_atomic(target, b"")
    assert read(target) == b""


def test_a_failed_write_leaves_the_target_alone_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(str(target), b"good", backup=True)
    with pytest.raises(TypeError):
        write_atomic(str(target), "not bytes", backup=True)  # type: ignore[arg-type]
    assert read(target) == b"good"
    assert os.listdir(tmp_path) == ["state.json"]


def test_write_atomic_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "missing" / "f"), b"x")
    assert os.listdir(tmp_path) == []


# -- read_with_fallback ------------------------------------------------------------


def parse_json(raw: bytes) -> object:
    return json.loads(raw)


@pytest.fixture
def target(tmp_path: Path) -> str:
    return str(tmp_path / "state.json")


def test_read_with_fallback_of_nothing_is_none(target: str) -> None:
    assert read_with_fallback(target, parse_json) is None


def test_read_with_fallback_reads_the_primary(target: str) -> None:
    write_atomic(target, b'{"v": 1}', backup=True)
    write_atomic(target, b'{"v": 2}', backup=True)
    assert read_with_fallback(target, parse_json) == {"v": 2}


def test_a_corrupt_primary_falls_back_to_the_backup_with_a_warning(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    write(Path(backup_path(target)), b'{"v": 1}')
    write(Path(target), b'{"v": ')  # torn
    with caplog.at_level(logging.WARNING, logger="procward.kit.atomic"):
        assert read_with_fallback(target, parse_json) == {"v": 1}
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert target in record.getMessage()
    assert f"recovered from {backup_path(target)}" in record.getMessage()


def test_a_removed_primary_is_a_reset_and_the_backup_is_not_resurrected(target: str) -> None:
    # Writes never leave the primary missing, so its absence is deliberate
    # ("down, rm state.json, up" resets state in the seed's runbook).
    write(Path(backup_path(target)), b'{"v": 1}')
    assert read_with_fallback(target, parse_json) is None


def test_an_unreadable_primary_falls_back_to_the_backup(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkdir(target)  # reading a directory fails with an OSError
    write(Path(backup_path(target)), b'{"v": 1}')
    with caplog.at_level(logging.WARNING, logger="procward.kit.atomic"):
        assert read_with_fallback(target, parse_json) == {"v": 1}
    assert "Is a directory" in caplog.text


def test_any_exception_from_parse_counts_as_corrupt(target: str) -> None:
    def parse_strict(raw: bytes) -> dict[str, int]:
        value = json.loads(raw)
        return {"v": value["v"]}  # KeyError on a file of the wrong shape

    write(Path(target), b"{}")
    write(Path(backup_path(target)), b'{"v": 1}')
    assert read_with_fallback(target, parse_strict) == {"v": 1}


def test_both_copies_corrupt_raise_corrupt_file_naming_both(target: str) -> None:
    write(Path(target), b"garbage")
    write(Path(backup_path(target)), b"{")
    with pytest.raises(CorruptFile) as info:
        read_with_fallback(target, parse_json)
    message = str(info.value)
    assert f"{target}: " in message
    assert f"{backup_path(target)}: " in message


def test_a_corrupt_primary_without_backup_raises_corrupt_file(target: str) -> None:
    write(Path(target), b"garbage")
    with pytest.raises(CorruptFile, match="no usable copy"):
        read_with_fallback(target, parse_json)


def test_a_value_written_atomically_reads_back(target: str) -> None:
    value = {"jobs": ["web", "worker"], "n": 3}
    write_atomic(target, json.dumps(value).encode(), backup=True)
    assert read_with_fallback(target, parse_json) == value
