"""A foreign command's words as procward's ``cmd``: a string where that reads back the same.

supervisord (after its own split) and PM2 run a program with its words and
no shell. procward's string form would run shell syntax under ``/bin/sh``
and expand ``$VAR``, so the words are written as one string only when
procward reads that string back as the same words, otherwise as an array;
either way ``$`` is doubled and braces too, so that nothing is expanded that
was not (``{instance}`` markers of ``expansions.py`` become ``{instance}``).
"""

from __future__ import annotations

import shlex

from procward.importers.expansions import to_procward

__all__ = ["as_cmd"]


def as_cmd(words: list[str]) -> str | list[str]:
    argv = [to_procward(word, dollars=True)[0] for word in words]
    return _as_string(argv) or argv


def _as_string(argv: list[str]) -> str | None:
    """The argv as one string when procward reads that string back as the same argv.

    A string with shell syntax would run under ``/bin/sh``, which supervisord
    never does, and ``$`` means different things in the two forms: those
    stay arrays.
    """
    if any("$" in arg or not arg for arg in argv):
        return None
    text = shlex.join(argv)
    if shlex.split(text) != argv or any(c in text for c in ";&|<>()`*?[~\n") or "=" in argv[0]:
        return None
    return text
