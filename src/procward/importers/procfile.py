"""A ``Procfile`` (foreman, honcho, Heroku) into procward apps, one per entry.

foreman runs each entry with ``sh -c`` in the Procfile's directory, reads the
``.env`` beside it, and gives every process a ``PORT``: 5000 for the first
entry, 5100 for the second, and so on, plus the process's index
(``web.1`` 5000, ``web.2`` 5001). procward keeps each of these: ``cwd``,
``env_file``, and ``PORT = "500{instance}"``, which is foreman's number for
instances 0 to 9 (procward's ``{instance}`` is a digit string, not arithmetic).
A command string with shell syntax runs under ``/bin/sh`` in procward too
(``supervision/cmdline.py``); the rest run without one, with the same words.
"""

from __future__ import annotations

import os
import re

from procward.importers.record import CLEAN_ENVIRONMENT, Imported, ImportedApp, Note, app_name
from procward.importers.source import read_source

__all__ = ["read_procfile"]

_ENTRY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:\s*(.*)$")
_COMMENTED_ENTRY = re.compile(r"^#\s*[A-Za-z0-9_][A-Za-z0-9_.-]*\s*:\s*\S")
# What only a shell reads as foreman means it, and procward's split of a string without
# shell syntax would not: ${VAR:-default}, ${#VAR}, and a word starting a # comment.
_SHELL_ONLY = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})|(?:^|\s)#")
# A command starting with one of these means nothing without a shell.
_SHELL_WORDS = frozenset(
    [
        "exec",
        "cd",
        ".",
        "source",
        "export",
        "set",
        "unset",
        "ulimit",
        "umask",
        "trap",
        "eval",
        "if",
        "for",
        "while",
        "case",
        "until",
        "{",
        "!",
        "[",
        "test",
        "alias",
        "command",
        "builtin",
        "read",
        "wait",
    ]
)
_BASE_PORT = 5000
_ONE_OFF = {
    "release": "Heroku runs it once per deploy",
    "postdeploy": "Heroku runs it once after the first deploy",
}


def read_procfile(path: str) -> Imported:
    text = read_source(path)
    here = os.path.dirname(os.path.abspath(path))
    notes: list[Note] = []
    entries: dict[str, tuple[int, str]] = {}
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if _COMMENTED_ENTRY.match(stripped):
                notes.append(Note(path, number, "(line)", "commented out: not imported"))
            continue
        match = _ENTRY.match(stripped)
        if match is None or not match.group(2).strip():
            notes.append(Note(path, number, "(line)", "not 'name: command': not imported"))
            continue
        name, command = app_name(match.group(1)), match.group(2).strip()
        if name != match.group(1):
            notes.append(Note(path, number, match.group(1), f"imported as {name!r}"))
        if name in entries:
            first = entries.pop(name)[0]
            notes.append(Note(path, first, name, f"defined again on line {number}, which counts"))
        entries[name] = (number, command)
    env_file = os.path.join(here, ".env")
    apps = [
        _app(f"{path}:{number}", name, command, _BASE_PORT + 100 * index, env_file)
        for index, (name, (number, command)) in enumerate(entries.items())
    ]
    if apps:
        notes.append(Note(path, 0, "(environment)", CLEAN_ENVIRONMENT.format(who="foreman")))
        notes.append(
            Note(
                path,
                0,
                "(restart)",
                "foreman stops every process when one exits; procward restarts the one that "
                "failed and keeps the others (restart = 'on-failure')",
            )
        )
    return Imported(path, "procfile", tuple(apps), tuple(notes))


def _app(where: str, name: str, command: str, port: int, env_file: str) -> ImportedApp:
    here = os.path.dirname(env_file)
    keys: dict[str, object] = {"cmd": _cmd(command), "cwd": here}
    keys["env"] = {"PORT": f"{port // 10}{{instance}}"}
    if os.path.isfile(env_file):
        keys["env_file"] = env_file
    notes = []
    if name in _ONE_OFF:
        keys["autostart"] = False
        keys["restart"] = "never"
        path, _, number = where.rpartition(":")
        notes.append(
            Note(
                path,
                int(number),
                name,
                f"{_ONE_OFF[name]}: imported as an app that does not start with the others "
                f"(run it with: procward start {name})",
            )
        )
    return ImportedApp(name, keys, tuple(notes), where)


def _cmd(command: str) -> str | list[str]:
    """The command as procward reads it to mean what ``sh -c`` means."""
    first = command.split(None, 1)[0]
    if _SHELL_ONLY.search(command) or "{" in command or "}" in command or first in _SHELL_WORDS:
        escaped = command.replace("$", "$$").replace("{", "{{").replace("}", "}}")
        return ["/bin/sh", "-c", escaped]
    return command


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line's number."""
    found: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        start, line = (number, raw)
        if pending is not None:
            start, line = pending[0], f"{pending[1]} {raw.lstrip()}"
            pending = None
        if line.rstrip().endswith("\\") and not line.lstrip().startswith("#"):
            pending = (start, line.rstrip()[:-1].rstrip())
            continue
        found.append((start, line))
    if pending is not None:
        found.append(pending)
    return found
