"""Watch mode's rules, as the config states them: which paths, what to ignore, how long to wait.

An app's ``watch`` key takes three forms::

    watch = true                          # the app's cwd
    watch = ["src", "conf/app.toml"]      # these files and directories
    watch = { paths = ["src"], ignore = ["*.tmp", "build/"], delay = "1s" }

A change under a watched path reloads the app (``watching.py``) once the
files have been quiet for ``delay`` (500 ms by default), so an editor saving
twenty files is one reload, not twenty. ``ignore`` adds to the defaults
(``.git``, ``__pycache__``, ``*.pyc``, ``*.log``, ``node_modules``,
``.venv``) rather than replacing them: an app that writes its own logs next to
its code must not reload itself in a loop because a list of ignores forgot
``*.log``. A pattern without ``/`` matches any one component of the path
below the watched root (``node_modules`` ignores every ``node_modules``
directory at any depth); one with ``/`` matches the relative path or any of
its leading directories (``build/cache``). A path named explicitly in
``paths`` is never ignored.

Relative paths resolve against the config file's directory, like ``cwd``;
``true`` (or a table without ``paths``) means the app's ``cwd``, which
``config.py`` fills in once every key of the app is read. This module is pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from procward.kit._structs import Struct
from procward.supervision.values import read_duration, read_table, show

__all__ = ["DEFAULT_DELAY", "DEFAULT_IGNORE", "Watch", "read_watch", "with_cwd"]

DEFAULT_IGNORE = (".git", "__pycache__", "*.pyc", "*.log", "node_modules", ".venv")
DEFAULT_DELAY = 0.5  # seconds of quiet after the last change before the reload


class Watch(Struct):
    paths: tuple[str, ...] = ()  # absolute; empty only until config.py fills in the cwd
    ignore: tuple[str, ...] = DEFAULT_IGNORE  # the defaults first, then the app's own
    delay: float = DEFAULT_DELAY

    def to_table(self) -> dict[str, Any]:
        """The ``watch`` table that ``read_watch`` reads back as this ``Watch``."""
        return {"paths": list(self.paths), "ignore": list(self.ignore), "delay": self.delay}

    def ignores(self, path: str) -> bool:
        """Is a change to ``path`` (absolute, under one of ``paths``) to be ignored?"""
        parts = _below_root(path, self.paths)
        if not parts:
            return False
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in self.ignore:
            if "/" in pattern:
                anchored = pattern.strip("/")
                if any(fnmatchcase(prefix, anchored) for prefix in prefixes):
                    return True
            elif any(fnmatchcase(part, pattern) for part in parts):
                return True
        return False


def _below_root(path: str, roots: tuple[str, ...]) -> list[str]:
    """The components of ``path`` below the deepest root holding it; [] for a root itself."""
    best: list[str] | None = None
    for root in roots:
        if path == root:
            return []
        if path.startswith(root.rstrip("/") + "/"):
            parts = path[len(root.rstrip("/")) + 1 :].split("/")
            if best is None or len(parts) < len(best):
                best = parts
    return best if best is not None else path.strip("/").split("/")


def read_watch(value: object, base_dir: str) -> Watch | None:
    """The ``watch`` key of an app: ``None`` for ``false``; ``Nested`` problems by sub-key."""
    if isinstance(value, bool):
        return Watch() if value else None
    if isinstance(value, list):
        return Watch(paths=_read_paths(value, base_dir))
    if not isinstance(value, Mapping):
        raise ValueError(
            "must be true, an array of paths, or a table with paths, ignore and delay, "
            f"got {show(value)}"
        )
    found: dict[str, Any] = read_table(value, _TABLE_READERS, base_dir, where="watch")
    return Watch(**found)


def _read_paths(value: object, base_dir: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f'must be a non-empty array of paths, like ["src"], got {show(value)}')
    paths: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or "\0" in item:
            raise ValueError(f"item {i} must be a non-empty path (a string), got {show(item)}")
        path = item if os.path.isabs(item) else os.path.join(base_dir, item)
        paths.append(os.path.normpath(path))
    return tuple(dict.fromkeys(paths))


def _read_ignore(value: object, _base_dir: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f'must be an array of patterns, like ["*.tmp"], got {show(value)}')
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip("/") or "\0" in item:
            raise ValueError(f"item {i} must be a non-empty pattern (a string), got {show(item)}")
    return tuple(dict.fromkeys([*DEFAULT_IGNORE, *value]))


def _read_delay(value: object, base_dir: str) -> float:
    seconds = read_duration(value, base_dir)
    if seconds > 3600:
        raise ValueError(f"must be at most 1h, got {show(value)}")
    return seconds


_TABLE_READERS: dict[str, Callable[[object, str], object]] = {
    "paths": _read_paths,
    "ignore": _read_ignore,
    "delay": _read_delay,
}


def with_cwd(watch: Watch, cwd: str | None) -> Watch:
    """``watch`` with the app's ``cwd`` as its path when it names none; ``ValueError`` if no cwd."""
    if watch.paths:
        return watch
    if cwd is None:
        raise ValueError(
            "watches the app's cwd when it names no paths, and this app has no cwd: "
            'set cwd = "." or list the paths, e.g. watch = ["."]'
        )
    return Watch(paths=(cwd,), ignore=watch.ignore, delay=watch.delay)
