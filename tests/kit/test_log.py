"""Daemon logging: JSON lines, rotation by rename, reopen, level from the environment."""

from __future__ import annotations

import glob
import json
import logging
import os

import pytest

from procward.kit._log import DaemonLogFile, JsonFormatter, TextFormatter, level_from_env


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_json_lines_carry_extra_fields_and_tracebacks(tmp_path) -> None:
    path = str(tmp_path / "daemon.log")
    handler = DaemonLogFile(path, max_bytes=1 << 20, backups=2, own_stdio=False)
    handler.setFormatter(JsonFormatter())
    log = _logger(handler)
    log.info("started %s", "app", extra={"app": "web", "instance": 1})
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("it failed")
    handler.close()
    with open(path) as f:
        first, second = (json.loads(line) for line in f)
    assert first["msg"] == "started app" and first["level"] == "info"
    assert first["app"] == "web" and first["instance"] == 1
    assert first["time"].endswith("Z")
    assert "ValueError: bad" in second["exc"]


def test_rotation_keeps_whole_lines_and_bounded_backups(tmp_path) -> None:
    path = str(tmp_path / "daemon.log")
    handler = DaemonLogFile(path, max_bytes=2000, backups=3, own_stdio=False)
    handler.setFormatter(JsonFormatter())
    log = _logger(handler)
    for n in range(500):
        log.info("line %d", n)
    handler.close()
    files = sorted(glob.glob(path + "*"))
    assert files == [path, path + ".1", path + ".2", path + ".3"]
    numbers = []
    for name in [path + ".3", path + ".2", path + ".1", path]:
        with open(name) as f:
            for line in f:
                numbers.append(int(json.loads(line)["msg"].split()[1]))
        assert os.path.getsize(name) <= 2000
    assert numbers == sorted(numbers) and numbers[-1] == 499
    assert numbers == list(range(numbers[0], 500)), "no line lost between the kept files"


def test_reopen_follows_an_external_rotation(tmp_path) -> None:
    path = str(tmp_path / "daemon.log")
    handler = DaemonLogFile(path, max_bytes=1 << 20, backups=1, own_stdio=False)
    handler.setFormatter(TextFormatter())
    log = _logger(handler)
    log.info("before")
    os.rename(path, path + ".old")
    handler.reopen()
    log.info("after")
    handler.close()
    with open(path) as f:
        assert "after" in f.read()
    with open(path + ".old") as f:
        assert "before" in f.read()


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", logging.DEBUG),
        ("WARNING", logging.WARNING),
        ("error", logging.ERROR),
        ("nonsense", logging.INFO),
        ("", logging.INFO),
    ],
)
def test_level_from_env(monkeypatch: pytest.MonkeyPatch, value: str, level: int) -> None:
    monkeypatch.setenv("SAMPLEX_LOG", value)
    assert level_from_env("samplex") == level
