"""A status file for shell prompts and status bars: read it, no daemon call needed.

``<runtime dir>/status.json`` holds one line of JSON, rewritten (atomically,
at most every ``DELAY`` seconds) whenever an instance changes state::

    {"healthy": false, "running": 11, "wanted": 12, "down": ["web"], "pid": 4242, ...}

A prompt that asked the daemon over RPC would pay a Python start-up on every
command line; ``cat`` of a file on tmpfs costs nothing, and ``procward prompt``
prints a short text from it (nothing when all is well). The file is removed
with the daemon's other runtime files; a stale one is recognised by its pid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from procward.kit.atomic import write_atomic

log = logging.getLogger("procward.daemon")

DELAY = 0.1  # seconds: a burst of changes (500 apps starting) is one write


class StatusFile:
    def __init__(self, path: str, summary: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.summary = summary
        self._pending: asyncio.TimerHandle | None = None
        self._failed = False

    def changed(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(DELAY, self.write)

    def write(self) -> None:
        self._pending = None
        data = {**self.summary(), "pid": os.getpid(), "updated": round(time.time(), 3)}
        try:
            write_atomic(self.path, json.dumps(data).encode() + b"\n", mode=0o644)
        except OSError as exc:
            if not self._failed:  # once: a prompt file is not worth a log flood
                log.warning("cannot write %s: %s", self.path, exc)
            self._failed = True
        else:
            self._failed = False

    def remove(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove %s: %s", self.path, exc)
