"""supervisord's INI dialect, read with the line of every key.

supervisord 4 reads its files with ``RawConfigParser(inline_comment_prefixes=
(";", "#"), strict=False)``. ``configparser`` would read them the same way
but keeps no line numbers, and every note of an import names a line; so this
is a small reader of the same rules:

- a line whose first non-blank character is ``;`` or ``#`` is a comment (a
  whole section can be commented out that way);
- ``;`` or ``#`` after whitespace starts a comment anywhere else, also after
  ``command=``; without whitespace before it, it is part of the value;
- ``key = value`` or ``key: value``, split at the first ``=`` or ``:``; keys
  are lower-cased, spaces around both are dropped;
- an indented line (tabs or spaces) continues the value above it;
- section headers may have trailing spaces; a repeated section or key is
  merged, the last value winning (``strict=False``), which the importer
  reports;
- CRLF endings and a missing final newline are nothing special.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Entry", "Section", "read_ini"]

_COMMENTS = (";", "#")


@dataclass(slots=True)
class Entry:
    value: str
    line: int


@dataclass(slots=True)
class Section:
    name: str
    file: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)
    repeated: list[tuple[str, int]] = field(default_factory=list)  # (key, line) overridden
    stray: list[int] = field(default_factory=list)  # lines that are not key = value


def read_ini(text: str, file: str) -> list[Section]:
    """The sections of ``text`` in order; keys before any section go to a ``""`` section."""
    sections: list[Section] = [Section("", file, 0)]
    current = sections[0]
    key: str | None = None
    key_indent = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(_COMMENTS):
            continue
        line = _without_comment(raw).rstrip()
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            continue
        if key is not None and indent > key_indent:
            entry = current.entries[key]
            entry.value = f"{entry.value}\n{line.strip()}" if entry.value else line.strip()
            continue
        body = line.strip()
        if body.startswith("[") and body.endswith("]"):
            current = Section(body[1:-1].strip(), file, number)
            sections.append(current)
            key = None
            continue
        key, key_indent = _add_entry(current, body, number), indent
    return sections


def _add_entry(section: Section, body: str, number: int) -> str | None:
    cut = min((i for i in (body.find("="), body.find(":")) if i >= 0), default=-1)
    if cut <= 0:
        section.stray.append(number)
        return None
    key = body[:cut].strip().lower()
    if key in section.entries:
        section.repeated.append((key, section.entries[key].line))
    section.entries[key] = Entry(body[cut + 1 :].strip(), number)
    return key


def _without_comment(line: str) -> str:
    """``line`` up to a ``;`` or ``#`` that follows whitespace."""
    for i, c in enumerate(line):
        if c in _COMMENTS and i > 0 and line[i - 1].isspace():
            return line[:i]
    return line
