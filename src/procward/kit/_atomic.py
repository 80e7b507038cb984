"""Crash-safe small files: the one way procward writes state and metadata.

A write goes to a temporary file in the same directory, is fsync'd, then
renamed over the target, and the directory is fsync'd so the rename itself is
durable. With ``backup=True`` the version being replaced is first hard-linked
to ``<name>.bak`` (through a temporary link and a rename, so ``.bak`` is never
missing either). At every instant both names point at a complete file.

``read_with_fallback`` reads the primary and, when it is unreadable or fails
to parse, falls back to ``.bak`` and says so in the log. A *missing* primary
is not a failure: writes never leave it missing, so its absence means someone
removed it on purpose (the seed's "reset state from cold" runbook), and the
backup is not resurrected.
"""

from __future__ import annotations

import os

from procward.kit._errors import CorruptFile

TYPE_CHECKING = False  # the CLI's auto-spawn path imports this: no `typing` at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


def backup_path(path: str) -> str:
    return path + ".bak"


def _sibling(path: str, suffix: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}.{os.getpid()}.{suffix}")


def write_atomic(path: str, data: bytes, *, backup: bool = False, mode: int = 0o600) -> None:
    tmp = _sibling(path, "tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    if backup:
        _keep_backup(path)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


def _keep_backup(path: str) -> None:
    link = _sibling(path, "bak.tmp")
    try:
        os.unlink(link)
    except FileNotFoundError:
        pass
    try:
        os.link(path, link)
    except FileNotFoundError:
        return  # first write: nothing to keep
    os.replace(link, backup_path(path))


def file_version(path: str) -> tuple[int, int, int, int] | None:
    """What changes when ``path`` is replaced or rewritten; None when it is gone.

    To tell whether a file is still the one we wrote, without reading it.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_with_fallback(path: str, parse: Callable[[bytes], T]) -> T | None:
    """Parse ``path``, else (if it is corrupt) its ``.bak``; None when ``path`` is absent.

    Raises ``CorruptFile`` naming both problems when neither can be used.
    """
    problems: list[str] = []
    for candidate in (path, backup_path(path)):
        try:
            with open(candidate, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            if candidate == path:
                return None
            continue
        except OSError as exc:
            problems.append(f"{candidate}: {exc.strerror or exc}")
            continue
        try:
            value = parse(raw)
        except Exception as exc:
            problems.append(f"{candidate}: {exc}")
            continue
        if problems:
            import logging  # only on this rare path: `atomic` is imported by the CLI

            logging.getLogger("procward.kit.atomic").warning(
                "%s is unusable (%s); recovered from %s", path, "; ".join(problems), candidate
            )
        return value
    if problems:
        raise CorruptFile("no usable copy: " + "; ".join(problems))
    return None
