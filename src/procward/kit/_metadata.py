"""``daemon.json``: what sibling commands need to know without an RPC.

Written atomically once the daemon serves; removed on a clean exit. The lock,
not this file, says whether the daemon is alive: ``running()`` combines both
into the three answers

- ``NOT_RUNNING``: no metadata;
- ``STALE``: metadata but nobody holds the lock, so the daemon died uncleanly
  (``cleanup_stale`` removes its leftovers, under the lock);
- ``RUNNING``: the lock is held; the recorded pid is safe to signal.

When the lock is held, the process holding it is the daemon, whatever the
file says: a ``daemon.json`` naming another process (stale, or edited) is
answered with the holder's identity (``lock.lock_holder``), so that `info`,
`down` and `kill` all name and signal the real daemon. The daemon itself
writes the file again when it finds it changed (``vitals``).
"""

from __future__ import annotations

import os
import stat

from procward.kit import _fastjson as fastjson
from procward.kit._atomic import write_atomic
from procward.kit._lock import InstanceLock, is_locked, lock_holder
from procward.kit._paths import InstancePaths
from procward.kit._procinfo import ProcessIdentity

TYPE_CHECKING = False  # `down`, `kill` and `info` import this: keep it light
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Metadata:
    __slots__ = (
        "addresses",
        "boot_id",
        "pid",
        "socket",
        "started_at",
        "starttime",
        "version",
        "warnings",
    )

    def __init__(  # noqa: PLR0917 - mirrors the file's fields
        self,
        pid: int,
        starttime: int,
        boot_id: str,
        version: str,
        socket: str,
        started_at: float,
        addresses: dict[str, str] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.pid = pid
        self.starttime = starttime
        self.boot_id = boot_id
        self.version = version
        self.socket = socket
        self.started_at = started_at
        self.addresses = addresses or {}
        # What `info` shows without asking the daemon: a listener open to the network in clear.
        self.warnings = warnings or []

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Metadata) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable record

    def __repr__(self) -> str:
        return f"Metadata(pid={self.pid}, version={self.version!r}, socket={self.socket!r})"

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.starttime, self.boot_id)

    @classmethod
    def from_json(cls, raw: bytes) -> Metadata:
        data: dict[str, Any] = fastjson.loads(raw)
        return cls(
            pid=int(data["pid"]),
            starttime=int(data["starttime"]),
            boot_id=str(data["boot_id"]),
            version=str(data["version"]),
            socket=str(data["socket"]),
            started_at=float(data["started_at"]),
            addresses={str(k): str(v) for k, v in data.get("addresses", {}).items()},
            warnings=[str(text) for text in data.get("warnings", [])],
        )

    def to_json(self) -> bytes:
        return fastjson.dumps(self.as_dict()).encode() + b"\n"


_FIELDS = (
    "pid",
    "starttime",
    "boot_id",
    "version",
    "socket",
    "started_at",
    "addresses",
    "warnings",
)


class Liveness:
    """The three answers of ``running()``; compare with ``is``.

    Three constants rather than an ``enum.Enum``: ``enum`` would cost the
    CLI's `up`, `down` and `info` paths more than the rest of this module.
    """

    __slots__ = ("name", "value")
    NOT_RUNNING: ClassVar[Liveness]
    STALE: ClassVar[Liveness]  # files of a daemon that died without cleaning up
    RUNNING: ClassVar[Liveness]

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"<Liveness.{self.name}: {self.value!r}>"


Liveness.NOT_RUNNING = Liveness("NOT_RUNNING", "not running")
Liveness.STALE = Liveness("STALE", "died uncleanly")
Liveness.RUNNING = Liveness("RUNNING", "running")


def write_metadata(paths: InstancePaths, meta: Metadata) -> None:
    write_atomic(paths.metadata, meta.to_json())


def read_metadata(paths: InstancePaths) -> Metadata | None:
    try:
        with open(paths.metadata, "rb") as f:
            return Metadata.from_json(f.read())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # Half-written files cannot happen (atomic writes); a hand-edited one can.
        return None


def running(paths: InstancePaths) -> tuple[Liveness, Metadata | None]:
    meta = read_metadata(paths)
    if is_locked(paths.lock):
        return Liveness.RUNNING, _as_held(paths, meta)
    if meta is None and not os.path.exists(paths.metadata):
        return Liveness.NOT_RUNNING, None
    return Liveness.STALE, meta


def _as_held(paths: InstancePaths, meta: Metadata | None) -> Metadata | None:
    """``meta`` with the identity of the lock's holder, when the file names someone else.

    Missing or unreadable while the lock is held: the daemon is starting (it
    writes the file in a moment), or the file was removed or spoiled (it
    writes it again); either way the holder is the daemon.
    """
    holder = lock_holder(paths.lock)
    if holder is None or (meta is not None and meta.pid == holder and meta.identity.matches_live()):
        return meta  # they agree, or there is no lock table to ask
    found = ProcessIdentity.of(holder)
    if found is None:  # it has just exited
        return meta
    if meta is None:
        return Metadata(found.pid, found.starttime, found.boot_id, "", paths.socket, 0.0)
    return Metadata(
        found.pid,
        found.starttime,
        found.boot_id,
        meta.version,
        meta.socket,
        meta.started_at,
        meta.addresses,
    )


def cleanup_stale(paths: InstancePaths) -> bool:
    """Remove a dead daemon's socket and metadata; False if a daemon holds the lock.

    Done under the instance lock so it can never delete the files of a daemon
    that started a moment ago.
    """
    if not os.path.isdir(paths.state_dir):
        return True
    lock = InstanceLock(paths.lock)
    if not lock.acquire(grace=0):
        return False
    try:
        remove_runtime_files(paths)
    finally:
        lock.release()
    return True


def remove_runtime_files(paths: InstancePaths) -> None:
    """Remove socket and metadata. Only call while holding the instance lock."""
    remove_socket(paths)
    try:
        os.unlink(paths.metadata)
    except FileNotFoundError:
        pass


def remove_socket(paths: InstancePaths) -> None:
    """Remove the socket file; whatever sits there but is not a socket is not ours."""
    try:
        if stat.S_ISSOCK(os.lstat(paths.socket).st_mode):
            os.unlink(paths.socket)
    except FileNotFoundError:
        pass
