"""Vital signs: put back what was removed behind a live daemon's back.

A tmp cleaner emptying ``/tmp/<prefix>-<uid>``, or a stray ``rm -rf``, can
take a serving daemon's files. Every ``Daemon.vital_interval`` seconds
(10) the daemon looks, and heals:

- the log file: reopened (first, so that what follows is not logged into a
  deleted file);
- the lock file: made and locked again, since without it the instance looks
  free and a second daemon could start; if someone else locked a new one
  meanwhile, that is reported, not fought over;
- the socket: bound again (connections already open carry on; closing the
  old listener closes only its descriptor);
- ``daemon.json``: written again when removed or changed (a stale copy put
  back, a hand edit), for sibling commands that read it. Changed means its
  ``stat`` differs from that of our last write and so do its bytes.

A few ``stat`` calls; each problem is logged once, not every ten seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Protocol

from procward.kit._atomic import file_version
from procward.kit._errors import KitError
from procward.kit._lock import InstanceLock
from procward.kit._log import DaemonLogFile
from procward.kit._metadata import Metadata, write_metadata
from procward.kit._paths import InstancePaths
from procward.kit._server import RpcServer, bind_unix

log = logging.getLogger("procward.kit.daemon")


def file_id(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``path``, None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class VitalsHost(Protocol):
    """What ``Vitals`` looks after, as the daemon has it at the time of a check."""

    @property
    def lock(self) -> InstanceLock | None: ...

    @property
    def log_file(self) -> DaemonLogFile | None: ...

    def metadata(self) -> Metadata: ...


class Vitals:
    def __init__(self, host: VitalsHost, paths: InstancePaths, server: RpcServer) -> None:
        self.host = host
        self.paths = paths
        self.server = server
        self.socket_id: tuple[int, int] | None = None  # of the socket file we serve on
        self.unix_server: asyncio.AbstractServer | None = None
        self._rebinding: asyncio.Future[None] | None = None
        self._errors: set[str] = set()
        self._metadata = b""  # what we last wrote to daemon.json
        self._metadata_version: tuple[int, int, int, int] | None = None

    def serving(self, server: asyncio.AbstractServer, bound: bool) -> None:
        """The Unix socket is served by ``server``; ``bound`` by us (not activated)."""
        self.unix_server = server
        self.socket_id = file_id(self.paths.socket) if bound else None

    def check(self) -> None:
        self._check_log_file()
        self._check_lock()
        self._check_socket()
        self._check_metadata()

    def _check_log_file(self) -> None:
        log_file = self.host.log_file
        if log_file is None or os.path.exists(log_file.baseFilename):
            return
        if self._heal(f"cannot open {log_file.baseFilename} again", log_file.reopen):
            log.warning("%s had been removed: logging to a new one", log_file.baseFilename)

    def _check_lock(self) -> None:
        lock = self.host.lock
        if lock is None or lock.still_ours():
            return
        if not self._heal(f"lock file {lock.path} is gone and cannot be made again", _nothing):
            return
        if lock.retake():
            log.warning("lock file %s had been removed: locked a new one", lock.path)
        else:
            self._error(f"lock file {lock.path} was replaced, and another process holds it")

    def _check_socket(self) -> None:
        if self.socket_id is None or (self._rebinding is not None and not self._rebinding.done()):
            return
        if file_id(self.paths.socket) != self.socket_id:
            self._rebinding = asyncio.ensure_future(self._rebind())

    def write_metadata(self, meta: Metadata) -> None:
        """Write ``daemon.json``, and remember what it was, to notice a change."""
        self._metadata = meta.to_json()
        write_metadata(self.paths, meta)
        self._metadata_version = file_version(self.paths.metadata)

    def metadata_is_ours(self) -> bool:
        """Does ``daemon.json`` hold what we last wrote (and not, say, another daemon's)?"""
        return bool(self._metadata) and _read(self.paths.metadata) == self._metadata

    def _check_metadata(self) -> None:
        path = self.paths.metadata
        version = file_version(path)
        if version is not None and version == self._metadata_version:
            return
        if version is not None and _read(path) == self._metadata:  # touched, not changed
            self._metadata_version = version
            return
        write = lambda: self.write_metadata(self.host.metadata())  # noqa: E731
        if self._heal(f"cannot write {path} again", write):
            what = "removed" if version is None else "changed"
            log.warning("%s had been %s: written again", path, what)

    def _heal(self, failure: str, action: Callable[[], object]) -> bool:
        try:
            self.paths.ensure()  # a tmp cleaner may have taken the directories too
            action()
        except (OSError, KitError) as exc:
            self._error(f"{failure}: {exc}")
            return False
        return True

    async def _rebind(self) -> None:
        try:
            self.paths.ensure()
            sock = bind_unix(self.paths.socket)
        except (OSError, KitError) as exc:
            self._error(f"socket {self.paths.socket} is gone and cannot be bound: {exc}")
            return
        old, self.unix_server = self.unix_server, await self.server.serve_socket(sock)
        self.socket_id = file_id(self.paths.socket)
        if old is not None:
            old.close()  # its connections carry on; only its listening socket goes
        self._errors.clear()
        log.warning("socket %s had been removed: listening on it again", self.paths.socket)

    def _error(self, text: str) -> None:
        if text not in self._errors:
            self._errors.add(text)
            log.error("%s", text)


def _nothing() -> None:
    pass


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
