"""An ``Imported`` as a commented procward.toml that ``procward up -c`` takes as is.

A small writer rather than a TOML library: the values are strings, integers,
finite floats, booleans, arrays of strings and one level of inline table, and the comments
(the notes, each above the app it is about) are the point of the file. Paths
under the output's directory are written relative to it, since procward
reads ``cwd`` and ``env_file`` relative to the config file.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap

from procward.importers.record import Imported, ImportedApp, Note

__all__ = ["render"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# What a TOML comment may not hold (a tab may stay); a newline would end it early.
_NOT_IN_COMMENTS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PATH_KEYS = ("cwd", "env_file")


def render(imported: Imported, out_dir: str) -> str:
    lines = [
        _shown(f"# Imported from {imported.source} ({imported.kind}) by procward import."),
        "# Each '#' note is a setting that did not carry over as it was, with the file",
        "# and line it came from and what procward does instead.",
    ]
    for note in imported.notes:
        lines += _comment(_relative_note(note, out_dir), "#   ")
    for app in imported.apps:
        lines += ["", *_app(app, out_dir)]
    return "\n".join(lines) + "\n"


def _app(app: ImportedApp, out_dir: str) -> list[str]:
    lines = [_shown(f"# from {_relative(app.origin, out_dir)}")]
    for note in app.notes:
        lines += _comment(_relative_note(note, out_dir), "# ")
    lines.append(f"[apps.{_key(app.name)}]")
    for key, value in app.keys.items():
        shown = _relative(value, out_dir) if key in _PATH_KEYS and isinstance(value, str) else value
        lines.append(f"{_key(key)} = {_value(shown)}")
    return lines


def _comment(text: str, prefix: str) -> list[str]:
    """``text`` as comment lines of at most 100 characters (a path is never split)."""
    lines = textwrap.wrap(  # a newline or a tab becomes a space
        text,
        100,
        initial_indent=prefix,
        subsequent_indent=prefix + "  ",
        break_on_hyphens=False,
        break_long_words=False,
    )
    return [_shown(line) for line in lines]


def _shown(text: str) -> str:
    """``text`` for a comment: what a comment may not hold, escaped (``\\x1b``)."""
    return _NOT_IN_COMMENTS.sub(lambda m: repr(m.group())[1:-1], text)


def _relative(path: str, out_dir: str) -> str:
    """``path`` relative to ``out_dir`` if it is inside it ("." for the directory itself)."""
    if not os.path.isabs(path):
        return path
    relative = os.path.relpath(path, out_dir)
    return path if relative.startswith("..") else relative


def _relative_note(note: Note, out_dir: str) -> str:
    return str(Note(_relative(note.file, out_dir), note.line, note.key, note.text))


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    # JSON's escapes are TOML's basic string's; TOML also refuses a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {value!r} as TOML")
