"""What every reader returns: apps as procward keys, and what did not carry over.

A reader (``supervisord.py``, ``procfile.py``, ``pm2.py``; Circus later) turns
one foreign file into an ``Imported``; ``toml_out.py`` writes it. The notes
are the honest part: each names the file, the line and the key that procward
does not take as it is, and what procward does instead, so that nobody
learns it from a crash in production.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = [
    "CLEAN_ENVIRONMENT",
    "ImportRefused",
    "Imported",
    "ImportedApp",
    "Note",
    "app_name",
    "not_imported",
]

# What every format differs in from procward: supervisord, foreman, PM2 and Circus
# all pass their own whole environment on to what they start.
CLEAN_ENVIRONMENT = (
    "{who} passed its whole environment to the apps; procward starts them from a clean "
    "base (PATH, HOME, USER, LANG...) plus env: add inherit_env = true, or the names "
    "they need, where an app relies on more"
)


class ImportRefused(ValueError):
    """The file cannot be imported at all: unreadable, unknown format, a template."""


_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def app_name(name: str) -> str:
    """``name`` as a procward app name: letters, digits, ``_-.``, starting with a letter or
    digit, and not ``all`` (the CLI's every app)."""
    fixed = _NAME_CHARS.sub("-", name).lstrip("_.-")[:64] or "app"
    return f"{fixed}-app" if fixed == "all" else fixed


def unique_name(name: str, taken: Collection[str]) -> str:
    """``name``, or the first of ``name-2``, ``name-3``… not ``taken``: two programs
    whose names differ only where procward's names do not allow (``a b``, ``a-b``)
    stay two apps."""
    fresh, number = name, 1
    while fresh in taken:
        number += 1
        fresh = f"{name}-{number}"
    return fresh


def not_imported(key: str) -> str:
    """The note for a key a reader has no handler for: what ``otherkeys.py`` answers about
    it (``'kill_timeout' is PM2's: use 'stop_timeout'``), or that procward has no such key."""
    from procward.supervision.otherkeys import answer

    known = answer(key)
    if known is not None:
        return f"not imported ({known})"
    return "not imported: procward has no such setting"


@dataclass(frozen=True, slots=True)
class Note:
    file: str
    line: int
    key: str
    text: str  # what procward does instead

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file  # 0: the whole file
        return f"{where}: {self.key}: {self.text}"


@dataclass(frozen=True, slots=True)
class ImportedApp:
    name: str
    keys: dict[str, object]  # procward's keys, in the order they are written
    notes: tuple[Note, ...] = ()
    origin: str = ""  # "file:line" of what it came from


@dataclass(frozen=True, slots=True)
class Imported:
    source: str  # the file given to `procward import`
    kind: str  # "supervisord", "procfile", "pm2"
    apps: tuple[ImportedApp, ...]
    notes: tuple[Note, ...] = field(default=())  # about the file, not one app

    def all_notes(self) -> list[Note]:
        return [*self.notes, *(note for app in self.apps for note in app.notes)]
