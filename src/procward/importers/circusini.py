"""Circus's INI dialect, read with the line of every key.

circusd reads ``circus.ini`` with its own ``StrictConfigParser._read``
(``circus/util.py``), which differs from supervisord's (``inifile.py``) on
every point that matters to an import, so it has its own small reader
returning the same ``Section`` and ``Entry`` records:

- a comment is a line whose very first character is ``;`` or ``#``, or one
  starting with the word ``rem``; an indented ``# ...`` line is not a
  comment but a continuation of the value above;
- only the first ``;`` of a value can start a comment, and only when
  whitespace comes before it: ``cmd = a;b ; c`` keeps all of ``a;b ; c``.
  ``#`` never starts one;
- any line starting with whitespace continues the value above (a key line
  cannot be indented); blank lines are skipped, continuation lines keep
  their ``;``;
- ``key = value`` or ``key: value``, split at the first ``=`` or ``:``;
  keys keep their case (they are environment variable names in ``[env]``);
  a value ``""`` is empty;
- a key set twice keeps its *first* value (supervisord keeps the last); a
  section repeated is merged into the first;
- ``[header]`` is everything between the first ``[`` and the last ``]``,
  not stripped: ``[ watcher:a ]`` is not a watcher to circusd;
- no ``%`` interpolation (``RawConfigParser``); Circus's own ``$(circus.x)``
  expansions are ``circus.py``'s.
"""

from __future__ import annotations

import re

from procward.importers.inifile import Entry, Section

__all__ = ["read_circus_ini"]

_HEADER = re.compile(r"\[(?P<header>.+)\]")
_OPTION = re.compile(r"(?P<key>.*?)\s*[=:]\s*(?P<value>.*)$")


def read_circus_ini(text: str, file: str) -> list[Section]:
    """The sections of ``text`` in order of first appearance; lines before any go to ``""``."""
    sections = {"": Section("", file, 0)}
    current = sections[""]
    key: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line[0] in "#;" or _is_rem(line):
            continue
        if line[0].isspace() and key is not None:
            _continue(current, key, line.strip())
            continue
        header = _HEADER.match(line)
        if header:
            name = header.group("header")
            current = sections.setdefault(name, Section(name, file, number))
            key = None
            continue
        key = _add_entry(current, line, number, key)
    return list(sections.values())


def _is_rem(line: str) -> bool:
    return line[0] in "rR" and line.split(None, 1)[0].lower() == "rem"


def _continue(section: Section, key: str, text: str) -> None:
    entry = section.entries[key]
    entry.value = f"{entry.value}\n{text}" if entry.value else text


def _add_entry(section: Section, line: str, number: int, previous: str | None) -> str | None:
    """The key of ``line``, whose continuations follow; the key before it if not a pair."""
    option = _OPTION.match(line)
    if option is None:
        section.stray.append(number)
        return previous
    key, value = option.group("key").rstrip(), _without_comment(option.group("value"))
    if key in section.entries:
        # circusd keeps the first value, and this line's continuations join that one.
        section.repeated.append((key, number))
        return key
    section.entries[key] = Entry("" if value == '""' else value, number)
    return key


def _without_comment(value: str) -> str:
    cut = value.find(";")
    if cut > 0 and value[cut - 1].isspace():
        value = value[:cut]
    return value.strip()
