"""``procward import``: other supervisors' configs as procward.toml.

One reader per format, each returning an ``Imported`` (``record.py``):
``supervisord.py`` (with ``inifile.py``, ``expansions.py``, ``programkeys.py``)
``procfile.py`` and ``circus.py`` (with ``circusini.py``, ``circuskeys.py``);
``toml_out.py`` writes any of them. PM2 will be one more reader. Loaded only
by ``procward import``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from procward.importers.record import Imported, ImportedApp, ImportRefused, Note
from procward.importers.toml_out import render

__all__ = ["KINDS", "ImportRefused", "Imported", "ImportedApp", "Note", "detect", "read", "render"]

KINDS = ("supervisord", "procfile", "circus")


def read(path: str, kind: str | None, environ: Mapping[str, str]) -> Imported:
    """The apps of ``path``, read as ``kind`` (default: ``detect(path)``)."""
    kind = kind or detect(path)
    if kind == "supervisord":
        from procward.importers.supervisord import read_supervisord

        return read_supervisord(path, environ)
    if kind == "procfile":
        from procward.importers.procfile import read_procfile

        return read_procfile(path)
    if kind == "circus":
        from procward.importers.circus import read_circus

        return read_circus(path, environ)
    raise ImportRefused(f"cannot import {kind!r} files yet; known: {', '.join(KINDS)}")


def detect(path: str) -> str:
    """The format of ``path``, by its name, then by its first lines."""
    name = os.path.basename(path).lower()
    if name.startswith("procfile"):
        return "procfile"
    if "supervisor" in name:
        return "supervisord"
    if "circus" in name:
        return "circus"
    from procward.importers.source import read_source

    text = read_source(path)
    if "[watcher:" in text:
        return "circus"
    if any(f"[{s}" in text for s in ("program:", "fcgi-program:", "include]", "group:")):
        return "supervisord"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and all(":" in ln and not ln.startswith("[") for ln in lines):
        return "procfile"
    raise ImportRefused(
        f"{path}: cannot tell its format (not a supervisord [program:x] file, a Circus "
        f"[watcher:x] file, nor a Procfile); name it with --from {'|'.join(KINDS)}"
    )
