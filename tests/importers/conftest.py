"""The test files of ``tests/importers/data``, reading them as ``procward import`` does,
and the daemon tests' fixtures, for loading the results into a real daemon."""

from __future__ import annotations

import os

from procward.importers import Imported, read

from ..daemon.conftest import daemon

__all__ = ["DATA", "ENVIRON", "daemon", "notes_by_line", "read_data"]

DATA = os.path.join(os.path.dirname(__file__), "data")
# What %(ENV_X)s in the test files asks for (APP_DIR: where serve.py is).
ENVIRON = {
    "SLEEP_SECONDS": "600",
    "WORKERS": "2",
    "GRACE": "7",
    "APP_DIR": os.path.join(DATA, "circus"),
}


def read_data(relative: str, kind: str | None = None) -> Imported:
    return read(os.path.join(DATA, relative), kind, ENVIRON)


def notes_by_line(imported: Imported) -> dict[tuple[str, int], str]:
    """``{(file name, line): "key: text"}`` of every note."""
    return {(os.path.basename(n.file), n.line): f"{n.key}: {n.text}" for n in imported.all_notes()}
