"""Signals by name or by number, the one place that converts between them.

A signal is written ``TERM``, ``SIGTERM``, ``term``, ``"15"`` or ``15`` (an int)
in config files, on the command line and on the wire; ``number()`` reads every
one of those, ``name()`` gives the short upper-case name (``TERM``) that
procward writes everywhere. Only signals Python knows by name count: a number
that names none (a real-time signal, a typo) is a ``ValueError``, not a
signal sent on faith.

This module imports only ``signal``, and that only when a function is called:
the CLI imports this module, its import time counts (``procward ping`` must
stay fast), and ``signal`` brings ``enum`` (about 10 ms) with it.
"""

from __future__ import annotations

__all__ = ["name", "names", "number"]


def number(name_or_number: str | int) -> int:
    """``15`` from ``"TERM"``, ``"SIGTERM"``, ``"term"``, ``" 15 "`` or ``15``.

    ``ValueError`` (saying what it got) for anything that is not a signal.
    """
    import signal

    if isinstance(name_or_number, bool) or not isinstance(name_or_number, str | int):
        raise ValueError(f"a signal is a name or a number, got {name_or_number!r}")
    text = str(name_or_number).strip()
    try:
        if text.isascii() and text.isdigit():
            return int(signal.Signals(int(text)))
        return int(signal.Signals["SIG" + text.upper().removeprefix("SIG")])
    except (ValueError, KeyError):
        raise ValueError(
            f"unknown signal {name_or_number!r}: use a name like TERM, INT, HUP or KILL, "
            "or its number"
        ) from None


def name(sig: int) -> str:
    """``"TERM"`` for ``15``; ``ValueError`` for a number that names no signal."""
    import signal

    return signal.Signals(sig).name.removeprefix("SIG")


def names() -> list[str]:
    """Every signal's short name (``HUP``, ``INT``, …), in number order."""
    import signal

    return [s.name.removeprefix("SIG") for s in signal.Signals]
