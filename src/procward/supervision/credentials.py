"""``secrets_as = "files"``: each secret in a file of a directory of the process's own.

As systemd's ``LoadCredential=``: the process finds ``$CREDENTIALS_DIRECTORY``
and in it one file per secret, named after the secret, so the values are in
no environment (``/proc/PID/environ``, a crash reporter's dump, a child that
prints its environment). Each spawn gets a new directory,
``<runtime_dir>/credentials/<app>.<index>.<random>``, mode 0700, with files
0400: a surge reload runs two processes of one index side by side, each with
its own.

A directory lives as long as its process: it is removed when the process
ends (exit, crash, stop, scale down, delete) and, after a crash of the
daemon, when the next daemon starts (``remove_stale``: the processes that
could read them were ended as leftovers). The runtime directory is usually a
tmpfs, i.e. memory: ``CredentialFiles`` caps what all directories hold
together (``MAX_BYTES``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Collection, Mapping

log = logging.getLogger("procward.supervision")

__all__ = ["MAX_BYTES", "CredentialFiles"]

MAX_BYTES = 16 * 1024 * 1024  # in all directories together


class CredentialFiles:
    """The credentials directories under ``root``, and the bytes they hold."""

    def __init__(self, root: str, max_bytes: int = MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.held: dict[str, int] = {}  # directory -> bytes of its files

    @property
    def total(self) -> int:
        return sum(self.held.values())

    def write(self, label: str, values: Mapping[str, bytes]) -> str:
        """A new directory for ``label`` (``app.index``) with one file per value; its path.

        ``OSError`` if it cannot be written, or would pass ``max_bytes``
        (nothing is left behind either way).
        """
        size = sum(len(v) for v in values.values())
        if self.total + size > self.max_bytes:
            raise OSError(
                f"secret files of {size} bytes would pass the {self.max_bytes} bytes that "
                f"all credentials directories may hold ({self.total} held now)"
            )
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = self._new_directory(label)
        try:
            for name, value in values.items():
                _write_file(os.path.join(path, name), value)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            raise
        self.held[path] = size
        return path

    def _new_directory(self, label: str) -> str:
        for _ in range(10):
            path = os.path.join(self.root, f"{label}.{os.urandom(4).hex()}")
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            os.chmod(path, 0o700)  # whatever the umask
            return path
        raise OSError(f"cannot make a credentials directory for {label} in {self.root}")

    def adopt(self, path: str) -> None:
        """A directory a previous program of this daemon wrote (an in-place upgrade)."""
        size = 0
        with contextlib.suppress(OSError):
            size = sum(e.stat().st_size for e in os.scandir(path) if e.is_file())
        self.held[path] = size

    def remove(self, path: str) -> None:
        """Remove a directory ``write`` made (the process that read it has ended)."""
        self.held.pop(path, None)
        if not _inside(path, self.root):
            log.error("not removing %s: not a credentials directory", path)
            return
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("cannot remove the credentials directory %s: %s", path, exc)

    def remove_stale(self, keep: Collection[str] = ()) -> list[str]:
        """Remove every directory under ``root`` but ``keep`` (at start: a dead daemon's)."""
        try:
            entries = [e.path for e in os.scandir(self.root) if e.path not in keep]
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("cannot look for stale credentials in %s: %s", self.root, exc)
            return []
        for path in entries:
            self.remove(path)
        if entries:
            log.info("removed %d credentials directories left by the last daemon", len(entries))
        return entries


def _write_file(path: str, value: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o400)
    try:
        view = memoryview(value)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _inside(path: str, root: str) -> bool:
    return os.path.dirname(os.path.normpath(path)) == os.path.normpath(root)
