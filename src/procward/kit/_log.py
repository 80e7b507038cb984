"""Daemon logging: JSON lines to a rotated file when detached, text when not.

A detached daemon has no terminal, so its log is a file of JSON lines that
tools can parse; a daemon in the foreground (``run`` under systemd, in a
container, in a terminal) writes human-readable text to stderr, where the
service manager collects it. The level comes from ``<PREFIX>_LOG``
(``debug``, ``info``, ``warning``, ``error``).

The file rotates by size (rename + reopen by the daemon, never copy-truncate)
and ``reopen()`` serves external logrotate (SIGUSR1). When detached, fds 1
and 2 follow the current file too, so a stray traceback lands in the live log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from procward.kit._rotation import rotate

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _iso(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")


class DaemonLogFile(logging.FileHandler):
    """Size-rotated log file whose stream fds 1 and 2 can follow.

    Not ``logging.handlers.RotatingFileHandler``: that module imports pickle,
    queue and socket machinery, over half a megabyte of a small daemon, for
    what is a size check and a few renames.
    """

    def __init__(self, path: str, max_bytes: int, backups: int, own_stdio: bool) -> None:
        self.own_stdio = own_stdio
        self.max_bytes = max_bytes
        self.backups = backups
        super().__init__(path, encoding="utf-8")
        self._follow_stdio()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            stream = self.stream
            if stream.tell() + len(line.encode()) > self.max_bytes and stream.tell() > 0:
                self.doRollover()
                stream = self.stream
            assert stream is not None
            stream.write(line)
            stream.flush()
        except Exception:
            self.handleError(record)

    def doRollover(self) -> None:
        """``log.N-1`` → ``log.N`` ... ``log`` → ``log.1``, then a fresh file."""
        if self.stream is not None:
            self.stream.close()
        rotate(self.baseFilename, self.backups)
        self.stream = self._open()
        self._follow_stdio()

    def reopen(self) -> None:
        """Reopen the file by name, after an external tool moved it."""
        with self.lock:  # type: ignore[union-attr]
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
        self._follow_stdio()

    def _follow_stdio(self) -> None:
        if self.own_stdio and self.stream is not None:
            self.stream.flush()
            for fd in (1, 2):
                os.dup2(self.stream.fileno(), fd)


def level_from_env(prefix: str) -> int:
    raw = os.environ.get(f"{prefix.upper()}_LOG", "info").strip().lower()
    return LEVELS.get(raw, logging.INFO)


def setup(
    prefix: str,
    *,
    detached: bool,
    log_path: str,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> DaemonLogFile | None:
    """Configure the root logger for a daemon; returns the file handler, if any."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(level_from_env(prefix))
    if detached:
        handler: logging.Handler = DaemonLogFile(log_path, max_bytes, backups, own_stdio=True)
        handler.setFormatter(JsonFormatter())
    else:
        handler = logging.StreamHandler(sys.stderr)
        # `<PREFIX>_LOG_FORMAT=json`: the detached format, for a log collector (`run --json`)
        as_json = os.environ.get(f"{prefix.upper()}_LOG_FORMAT", "").lower() == "json"
        handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root.addHandler(handler)
    logging.captureWarnings(True)
    return handler if isinstance(handler, DaemonLogFile) else None
