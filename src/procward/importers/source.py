"""Reading a file to import: UTF-8 text, and not a template.

Templates are refused, since their values are not there yet. Ansible and
Salt write supervisord files from Jinja (``{{ app_dir }}``, ``{% for %}``),
Chef and Puppet from ERB (``<%= @port %>``), and some images fill
``%%VAR%%`` placeholders at start. Importing one would carry the
placeholders into procward.toml as values; the user wants the rendered file.
"""

from __future__ import annotations

import re

from procward.importers.record import ImportRefused

__all__ = ["read_source"]

_SIGNS = (
    (re.compile(r"\{\{.*?\}\}|\{%.*?%\}"), "Jinja"),
    (re.compile(r"<%.*?%>"), "ERB"),
    (re.compile(r"%%[A-Z][A-Z0-9_]*%%"), "%%VAR%%"),
)


def read_source(path: str) -> str:
    """The text of ``path``; ``ImportRefused`` if it is unreadable, not text, or a template."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ImportRefused(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ImportRefused(f"{path} is not UTF-8 text") from None
    _refuse_template(text, path)
    return text


def _refuse_template(text: str, file: str) -> None:
    """``ImportRefused`` naming the first placeholder of a template, if ``text`` is one."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("#", ";")):
            continue
        for pattern, kind in _SIGNS:
            found = pattern.search(line)
            if found:
                raise ImportRefused(
                    f"{file}:{number}: this is a {kind} template ({found.group(0)!r}), not a "
                    "config: import the file it renders to"
                )
