"""Rotation by rename, shared by the daemon log, apps' logs and the audit log."""

from __future__ import annotations

import os
from typing import Any

import pytest

from procward.kit._rotation import rotate, rotated_names


def files(where: Any) -> dict[str, str]:
    return {name: (where / name).read_text() for name in sorted(os.listdir(where))}


def make(where: Any, **contents: str) -> str:
    for name, text in contents.items():
        (where / name.replace("_", ".")).write_text(text)
    return str(where / "x.log")


def test_names_are_the_live_file_then_the_backups_newest_first() -> None:
    assert rotated_names("/l/x.log", 3) == ["/l/x.log", "/l/x.log.1", "/l/x.log.2", "/l/x.log.3"]
    assert rotated_names("/l/x.log", 0) == ["/l/x.log"]


def test_each_file_moves_one_down_and_the_oldest_goes(tmp_path: Any) -> None:
    path = make(tmp_path, x_log="now", x_log_1="one", x_log_2="two", x_log_3="three")
    rotate(path, 3)
    assert files(tmp_path) == {"x.log.1": "now", "x.log.2": "one", "x.log.3": "two"}


def test_a_gap_in_the_numbering_is_skipped(tmp_path: Any) -> None:
    path = make(tmp_path, x_log="now", x_log_1="one", x_log_3="three")
    rotate(path, 3)
    assert files(tmp_path) == {"x.log.1": "now", "x.log.2": "one", "x.log.3": "three"}
    rotate(path, 3)  # no live file now: the rest still shift
    assert files(tmp_path) == {"x.log.2": "now", "x.log.3": "one"}


def test_nothing_at_all_is_nothing_to_do(tmp_path: Any) -> None:
    rotate(str(tmp_path / "x.log"), 5)
    rotate(str(tmp_path / "x.log"), 0)
    assert os.listdir(tmp_path) == []


def test_without_backups_the_file_is_removed(tmp_path: Any) -> None:
    path = make(tmp_path, x_log="now", x_log_1="stray")
    rotate(path, 0)
    assert files(tmp_path) == {"x.log.1": "stray"}  # beyond the count: not ours to touch


def test_backups_beyond_the_count_are_left_alone(tmp_path: Any) -> None:
    path = make(tmp_path, x_log="now", x_log_1="one", x_log_5="old")
    rotate(path, 1)
    assert files(tmp_path) == {"x.log.1": "now", "x.log.5": "old"}


def test_names_under_a_directory_descriptor(tmp_path: Any) -> None:
    make(tmp_path, x_log="now", x_log_1="one")
    here = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        rotate("x.log", 2, dir_fd=here)
    finally:
        os.close(here)
    assert files(tmp_path) == {"x.log.1": "now", "x.log.2": "one"}


def test_other_errors_are_raised(tmp_path: Any) -> None:
    path = make(tmp_path, x_log="now")
    os.mkdir(tmp_path / "x.log.1")
    (tmp_path / "x.log.1" / "full").write_text("a directory in the way")
    with pytest.raises(OSError):
        rotate(path, 1)
