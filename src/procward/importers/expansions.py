"""supervisord's ``%(name)s`` expansions, turned into what procward writes.

supervisord expands values with Python's ``%`` operator: ``%(program_name)s``,
``%(process_num)02d``, ``%(group_name)s``, ``%(numprocs)d``, ``%(here)s``,
``%(host_node_name)s``, ``%(ENV_X)s``; ``%%`` is a literal ``%``. All of them
are known when the file is imported except ``process_num``, which differs
per instance: it becomes procward's ``{instance}`` (instances count from 0,
as ``process_num`` does unless ``numprocs_start`` says otherwise). Until the
value is placed, that spot is a marker (NUL, the zero-padded width, NUL):
NUL cannot occur in a config, and where the value lands decides how the
rest must be escaped (``$`` in a command, braces everywhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["ExpansionError", "expand", "has_instance", "instance_marker", "to_procward"]

_FORMAT = re.compile(r"%%|%\(([^)]*)\)([#0\- +]*)(\d*)((?:\.\d+)?[diouxXeEfFgGcrsa])")
_MARKER = re.compile(r"\x00(\d+)\x00")


class ExpansionError(ValueError):
    pass


def expand(value: str, names: Mapping[str, str]) -> str:
    """``value`` with every ``%(name)s`` filled in; ``process_num`` left as a marker."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name, flags, width, conversion = match.groups()
        if name == "process_num":
            return instance_marker(int(width) if "0" in flags and width else 1)
        if name not in names and name.startswith("ENV_"):
            raise ExpansionError(f"%({name})s: ${name[4:]} is not set where procward import runs")
        if name not in names:
            raise ExpansionError(f"%({name})s is not a name supervisord expands here")
        text = names[name]
        spec = f"%{flags}{width}{conversion}"
        try:
            return spec % (int(text) if conversion[-1] in "diouxXc" else text)
        except (TypeError, ValueError):
            raise ExpansionError(f"%({name}){flags}{width}{conversion} of {text!r}") from None

    return _FORMAT.sub(one, value)


def instance_marker(width: int = 1) -> str:
    """Where the instance number goes, zero-padded to ``width``, until ``to_procward``."""
    return f"\x00{width}\x00"


def has_instance(value: str) -> bool:
    return "\x00" in value


def to_procward(value: str, *, dollars: bool) -> tuple[str, int]:
    """(procward's text for an expanded value, the widest zero padding asked for).

    Braces become ``{{``/``}}`` and, with ``dollars`` (command arguments),
    ``$`` becomes ``$$``, so that procward reads back exactly the value; each
    marker becomes ``{instance}``, after ``width - 1`` zeros, which is
    supervisord's ``%(process_num)02d`` for instances 0 to 9.
    """
    out: list[str] = []
    widest = 1
    for i, part in enumerate(_MARKER.split(value)):
        if i % 2:
            widest = max(widest, int(part))
            out.append("0" * (int(part) - 1) + "{instance}")
            continue
        text = part.replace("{", "{{").replace("}", "}}")
        out.append(text.replace("$", "$$") if dollars else text)
    return "".join(out), widest
