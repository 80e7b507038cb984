"""``secrets_as = "files"``: each secret in a file of a directory of the process's own.

As systemd's ``LoadCredential=``: the process finds ``$CREDENTIALS_DIRECTORY``
and in it one file per secret, named after the secret, so the values are in
no environment (``/proc/PID/environ``, a crash reporter's dump, a child that
prints its environment). Each spawn gets a new directory,
``<runtime_dir>/credentials/<app>.<index>.<random>``, mode 0700, with files
0400: a surge reload runs two processes of one index side by side, each with
its own.

An app that runs as another user (``user``, a root daemon) could not reach a
directory under the daemon's runtime directory (0700, and so are its
parents, often): its directories are made under a root of their own that
others may pass through but not list, ``/run/procward-credentials/<key>``
(0711; ``<key>`` names the daemon by its runtime directory, escaped), and given to
the app's user, 0500 with files 0400, as systemd's ``/run/credentials``.

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
import stat
from collections.abc import Collection, Mapping

log = logging.getLogger("procward.supervision")

__all__ = ["MAX_BYTES", "SHARED_BASE", "CredentialFiles", "shared_root_for"]

MAX_BYTES = 16 * 1024 * 1024  # in all directories together
SHARED_BASE = "/run/procward-credentials"  # a tmpfs: secrets stay in memory


def shared_root_for(runtime_dir: str, base: str = SHARED_BASE) -> str:
    """The root of the directories given to other users by the daemon of ``runtime_dir``.

    Named by the runtime directory, escaped (``_`` as ``__``, ``/`` as
    ``_s``: one name per directory), not hashed: ``hashlib`` would load
    OpenSSL into the daemon (decision 0008). A name too long for one path
    component keeps its end and a CRC of the whole.
    """
    escaped = os.path.abspath(runtime_dir).strip("/").replace("_", "__").replace("/", "_s")
    if len(escaped) > 200:
        import binascii

        escaped = f"{binascii.crc32(escaped.encode()):08x}-{escaped[-180:]}"
    return os.path.join(base, escaped or "_s")


class CredentialFiles:
    """The credentials directories under ``root``, and the bytes they hold."""

    def __init__(
        self, root: str, max_bytes: int = MAX_BYTES, *, shared_root: str | None = None
    ) -> None:
        self.root = root
        self.shared_root = shared_root  # for apps of other users; None: there are none
        self.max_bytes = max_bytes
        self.held: dict[str, int] = {}  # directory -> bytes of its files

    @property
    def total(self) -> int:
        return sum(self.held.values())

    def write(
        self, label: str, values: Mapping[str, bytes], owner: tuple[int, int] | None = None
    ) -> str:
        """A new directory for ``label`` (``app.index``) with one file per value; its path.

        With ``owner`` (uid, gid), in ``shared_root`` and theirs. ``OSError``
        if it cannot be written, or would pass ``max_bytes`` (nothing is left
        behind either way).
        """
        size = sum(len(v) for v in values.values())
        if self.total + size > self.max_bytes:
            raise OSError(
                f"secret files of {size} bytes would pass the {self.max_bytes} bytes that "
                f"all credentials directories may hold ({self.total} held now)"
            )
        root = self.root if owner is None else self._shared()
        os.makedirs(root, mode=0o700, exist_ok=True)
        path = self._new_directory(root, label)
        try:
            for name, value in values.items():
                _write_file(os.path.join(path, name), value)
            if owner is not None:
                _give(path, owner)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            raise
        self.held[path] = size
        return path

    def _shared(self) -> str:
        """``shared_root``, made passable (0711) and checked: root's, and only root may write."""
        if self.shared_root is None:
            raise OSError("secret files for another user need a root daemon")
        base = os.path.dirname(self.shared_root)
        for directory in (base, self.shared_root):
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, 0o711)
            st = os.lstat(directory)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
                raise OSError(f"{directory} is not a directory of root's that only root writes")
            os.chmod(directory, 0o711)
        return self.shared_root

    def _new_directory(self, root: str, label: str) -> str:
        for _ in range(10):
            path = os.path.join(root, f"{label}.{os.urandom(4).hex()}")
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            os.chmod(path, 0o700)  # whatever the umask
            return path
        raise OSError(f"cannot make a credentials directory for {label} in {root}")

    def adopt(self, path: str) -> None:
        """A directory a previous program of this daemon wrote (an in-place upgrade)."""
        size = 0
        with contextlib.suppress(OSError):
            size = sum(e.stat().st_size for e in os.scandir(path) if e.is_file())
        self.held[path] = size

    def remove(self, path: str) -> None:
        """Remove a directory ``write`` made (the process that read it has ended)."""
        self.held.pop(path, None)
        if not any(_inside(path, root) for root in self.roots()):
            log.error("not removing %s: not a credentials directory", path)
            return
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("cannot remove the credentials directory %s: %s", path, exc)
        if self.shared_root is not None and _inside(path, self.shared_root):
            with contextlib.suppress(OSError):  # the last one: leave no empty root in /run
                os.rmdir(self.shared_root)

    def roots(self) -> list[str]:
        return [self.root] if self.shared_root is None else [self.root, self.shared_root]

    def remove_stale(self, keep: Collection[str] = ()) -> list[str]:
        """Remove every directory under the roots but ``keep`` (at start: a dead daemon's)."""
        entries = []
        for root in self.roots():
            try:
                entries += [e.path for e in os.scandir(root) if e.path not in keep]
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("cannot look for stale credentials in %s: %s", root, exc)
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


def _give(path: str, owner: tuple[int, int]) -> None:
    """The directory and its files to ``owner``: theirs to read, not to change."""
    uid, gid = owner
    for name in os.listdir(path):
        os.chown(os.path.join(path, name), uid, gid, follow_symlinks=False)
    os.chown(path, uid, gid)
    os.chmod(path, 0o500)


def _inside(path: str, root: str) -> bool:
    return os.path.dirname(os.path.normpath(path)) == os.path.normpath(root)
