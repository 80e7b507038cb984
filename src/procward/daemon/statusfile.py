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

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from procward.kit._snapshot import Snapshot

DELAY = 0.1  # seconds: a burst of changes (500 apps starting) is one write


class StatusFile:
    """``status.json`` as a ``kit.Snapshot`` of ``summary()``, with our pid and the time.

    Written in the loop (one line on tmpfs), mode 0644, no ``.bak``; a failed
    write is worth a warning at most.
    """

    def __init__(self, path: str, summary: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.summary = summary
        self.file = Snapshot(
            path,
            self._take,
            delay=DELAY,
            thread=False,
            backup=False,
            mode=0o644,
            level=logging.WARNING,
        )

    def changed(self) -> None:
        self.file.changed()

    def write(self) -> None:
        self.file.flush()

    def remove(self) -> None:
        self.file.remove()

    def _take(self) -> bytes:
        data = {**self.summary(), "pid": os.getpid(), "updated": round(time.time(), 3)}
        return json.dumps(data).encode() + b"\n"
