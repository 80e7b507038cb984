"""Rotation by rename: ``x.log`` → ``x.log.1`` → … → ``x.log.N``, the oldest replaced.

The daemon log, apps' logs and the audit log rotate the same way, by
renaming and reopening (never copy and truncate, which loses what is written
between the two), so they share these two functions: ``rotated_names``
says which files make up one log, ``rotate`` shifts them by one.

A missing file (a gap in the numbering left by a hand or a tmp cleaner, or
no live file at all) is skipped, never an error: rotation is what makes room,
and must not fail for lack of something to move.
"""

from __future__ import annotations

import contextlib
import os


def rotated_names(path: str, backups: int) -> list[str]:
    """The live file, then its backups newest first: ``[x.log, x.log.1, …, x.log.N]``."""
    return [path, *(f"{path}.{n}" for n in range(1, backups + 1))]


def rotate(path: str, backups: int, *, dir_fd: int | None = None) -> None:
    """``path.N-1`` → ``path.N`` … ``path`` → ``path.1``; with ``backups`` 0, remove ``path``.

    The caller reopens ``path`` afterwards. ``dir_fd``: ``path`` is a name in
    that directory (opened by the caller without following symlinks, so a
    directory planted as a link is refused rather than written through).
    Errors other than a missing file are raised, the files as far as it got.
    """
    if backups <= 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path, dir_fd=dir_fd)
        return
    names = rotated_names(path, backups)
    for n in range(backups, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(names[n - 1], names[n], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
