"""Turning daemon replies into text for people."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def duration(seconds: float) -> str:
    """``3d4h``, ``2h5m``, ``4m12s``, ``9s``: two units at most."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def as_json(value: Any) -> None:
    import json  # only for --json: it costs ~12 ms of start-up

    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def fields(pairs: list[tuple[str, Any]]) -> None:
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        sys.stdout.write(f"{key + ':':<{width + 1}} {value}\n")
