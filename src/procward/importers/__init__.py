"""``procward import``: other supervisors' configs as procward.toml.

One reader per format, each returning an ``Imported`` (``record.py``):
``supervisord.py`` (with ``inifile.py``, ``expansions.py``, ``programkeys.py``)
``procfile.py``, ``pm2.py`` (with ``pm2keys.py``, ``pm2node.py``...) and
``circus.py`` (with ``circusini.py``, ``circuskeys.py``); ``toml_out.py``
writes any of them. Loaded only by ``procward import``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from procward.importers.record import Imported, ImportedApp, ImportRefused, Note
from procward.importers.toml_out import render

__all__ = ["KINDS", "ImportRefused", "Imported", "ImportedApp", "Note", "detect", "read", "render"]

KINDS = ("supervisord", "procfile", "pm2", "circus")
_PM2_NAMES = ("ecosystem", "pm2", "dump.pm2")


def read(
    path: str, kind: str | None, environ: Mapping[str, str], env_name: str | None = None
) -> Imported:
    """The apps of ``path``, read as ``kind`` (default: ``detect(path)``); ``env_name``:
    PM2's ``--env``."""
    kind = kind or detect(path)
    if env_name is not None and kind != "pm2":
        raise ImportRefused(f"--env selects PM2's env_NAME; {path} is read as {kind}")
    if kind == "supervisord":
        from procward.importers.supervisord import read_supervisord

        return read_supervisord(path, environ)
    if kind == "procfile":
        from procward.importers.procfile import read_procfile

        return read_procfile(path)
    if kind == "pm2":
        from procward.importers.pm2 import read_pm2

        return read_pm2(path, environ, env_name)
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
    if name.startswith(_PM2_NAMES) or name.endswith((".config.js", ".config.cjs", ".config.mjs")):
        return "pm2"
    if "circus" in name:
        return "circus"
    from procward.importers.source import read_source

    text = read_source(path)
    if "[watcher:" in text:
        return "circus"
    if any(f"[{s}" in text for s in ("program:", "fcgi-program:", "include]", "group:")):
        return "supervisord"
    if _pm2_content(name, text):
        return "pm2"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and all(":" in ln and not ln.startswith("[") for ln in lines):
        return "procfile"
    raise ImportRefused(
        f"{path}: cannot tell its format (not a supervisord [program:x] file, a Procfile, "
        f"PM2's apps, nor a Circus [watcher:x] file); name it with --from {'|'.join(KINDS)}"
    )


def _pm2_content(name: str, text: str) -> bool:
    """JSON, YAML or JavaScript naming ``apps`` and a ``script``, or a ``pm2 jlist``."""
    start = text.lstrip()[:1]
    if '"pm2_env"' in text or '"pm_exec_path"' in text:
        return True
    has_apps = re.search(r"^\s*['\"]?apps['\"]?\s*:", text, re.MULTILINE) is not None
    has_script = re.search(r"['\"]?\b(script|cmd)['\"]?\s*:", text) is not None
    code = name.endswith((".js", ".cjs", ".mjs", ".json", ".yaml", ".yml")) or start in "{["
    return has_apps and has_script and code
