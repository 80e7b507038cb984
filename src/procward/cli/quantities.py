"""Quantities as people read them: ``4m12s``, ``18.3M``, ``12.5%``.

Apart from ``render`` (which imports them from here) so that ``procward ping`` can
say the daemon's uptime without loading every table of the CLI.
"""

from __future__ import annotations

__all__ = ["duration", "percent", "size"]


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


def size(count: int | None) -> str:
    """``512K``, ``18.3M``, ``1.2G``: memory as ``top`` shows it."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit in "BK" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
