"""Where the files of one daemon instance live.

An *instance* is one daemon with its own socket, lock, metadata, state and
logs. Several can run side by side: pick one with ``--instance NAME``, the
``<PREFIX>_INSTANCE`` variable, or ``instance_for_project(dir)``, which hashes
a project directory into a stable name.

Layout (``<prefix>`` is the daemon's name, ``<i>`` the instance):

- ``<PREFIX>_HOME`` set: everything under ``$<PREFIX>_HOME/<i>/``. Tests use
  this so they never touch the real home.
- otherwise the runtime dir (socket) is ``$XDG_RUNTIME_DIR/<prefix>/<i>/``,
  falling back to ``/tmp/<prefix>-<uid>/<i>/``, and the state dir (lock,
  metadata, state, logs) is ``$XDG_STATE_HOME/<prefix>/<i>/``, falling back
  to ``~/.local/state/<prefix>/<i>/``.

Directories are created 0700. An existing one owned by another user or open
to group/others is refused rather than "fixed": in a shared ``/tmp`` that is
exactly the sign of someone else planting a directory for us.

Paths are plain strings, not ``pathlib`` objects, and ``InstancePaths`` is a
plain class, not a dataclass: this module is on the CLI's start-up path, and
importing ``pathlib`` or ``dataclasses`` costs more than a round trip to the
daemon.
"""

from __future__ import annotations

import os
import stat

from procward.kit._errors import UnsafeDirectory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


DEFAULT_INSTANCE = "default"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")  # checked without `re`: it is not on the CLI path
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


def validate_instance(name: str) -> str:
    if not (0 < len(name) <= 64 and name[0] in _ALNUM and set(name) <= _NAME_CHARS):
        raise ValueError(
            f"invalid instance name {name!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def check_socket_path(path: str) -> str:
    """Refuse, with the fix in the message, a socket path the kernel cannot bind."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        raise UnsafeDirectory(
            f"socket path is {size} bytes, over the limit of {MAX_SOCKET_PATH}: {path} "
            "(choose a shorter home or runtime directory)"
        )
    return path


def instance_for_project(directory: str | os.PathLike[str]) -> str:
    """A stable instance name for a project directory: ``<basename>-<hash>``."""
    import hashlib

    real = os.path.realpath(directory)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:10]
    base = "".join(c if c in _NAME_CHARS else "_" for c in os.path.basename(real))
    base = base[:40].lstrip(".-_")
    return f"{base or 'root'}-{digest}"


class InstancePaths:
    __slots__ = ("instance", "prefix", "private_parents", "runtime_dir", "state_dir")

    def __init__(
        self,
        prefix: str,
        instance: str,
        runtime_dir: str,
        state_dir: str,
        private_parents: tuple[str, ...] = (),
    ) -> None:
        self.prefix = prefix
        self.instance = instance
        self.runtime_dir = runtime_dir
        self.state_dir = state_dir
        # Our own parent directories (not a user-chosen home) are kept private
        # too: /tmp/<prefix>-<uid> in particular could be planted by another user.
        self.private_parents = private_parents

    @property
    def socket(self) -> str:
        return os.path.join(self.runtime_dir, "daemon.sock")

    @property
    def lock(self) -> str:
        return os.path.join(self.state_dir, "daemon.lock")

    @property
    def spawn_lock(self) -> str:
        return os.path.join(self.state_dir, "spawn.lock")

    @property
    def metadata(self) -> str:
        return os.path.join(self.state_dir, "daemon.json")

    @property
    def state(self) -> str:
        return os.path.join(self.state_dir, "state.json")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.state_dir, "logs")

    @property
    def daemon_log(self) -> str:
        return os.path.join(self.log_dir, "daemon.log")

    def ensure(self) -> None:
        """Create the instance directories 0700, refusing unsafe existing ones."""
        for directory in (*self.private_parents, self.runtime_dir, self.state_dir, self.log_dir):
            ensure_private_dir(directory)

    def as_dict(self) -> dict[str, str]:
        return {
            "instance": self.instance,
            "runtime_dir": self.runtime_dir,
            "state_dir": self.state_dir,
            "socket": self.socket,
            "lock": self.lock,
            "metadata": self.metadata,
            "state": self.state,
            "log_dir": self.log_dir,
            "daemon_log": self.daemon_log,
        }

    def __repr__(self) -> str:
        return f"InstancePaths({self.prefix!r}, {self.instance!r}, {self.state_dir!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstancePaths) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash((self.prefix, self.instance, self.runtime_dir, self.state_dir))


def resolve(
    prefix: str,
    instance: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> InstancePaths:
    """Compute (without touching the disk) the paths of one instance."""
    env = os.environ if env is None else env
    upper = prefix.upper()
    name = validate_instance(instance or env.get(f"{upper}_INSTANCE") or DEFAULT_INSTANCE)
    home = env.get(f"{upper}_HOME")
    if home:
        root = os.path.join(os.path.abspath(os.path.expanduser(home)), name)
        return InstancePaths(prefix, name, root, root)
    runtime_base = env.get("XDG_RUNTIME_DIR")
    runtime_root = (
        os.path.join(runtime_base, prefix) if runtime_base else f"/tmp/{prefix}-{os.geteuid()}"
    )
    state_base = env.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    state_root = os.path.join(state_base, prefix)
    return InstancePaths(
        prefix,
        name,
        os.path.join(runtime_root, name),
        os.path.join(state_root, name),
        (runtime_root, state_root),
    )


def ensure_private_dir(path: str) -> None:
    """Make ``path`` (and missing parents) exist; the leaf must be ours and 0700."""
    if not os.path.lexists(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
    check_private_dir(path)  # also says what is wrong with a non-directory


def check_private_dir(path: str) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} exists but is not a directory")
    check_private(path, st, "0700")


def check_private(path: str, st: os.stat_result, want: str) -> None:
    """``UnsafeDirectory`` if ``path`` (``st``: its lstat) is another user's or open to
    group or others, with the ``chmod`` to ``want`` that fixes it in the message."""
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(
            f"{path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}); "
            "refusing to use it"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise UnsafeDirectory(
            f"{path} has permissions {mode:04o}; it must be private ({want}). "
            f"Fix it with: chmod {want[1:]} {path}"
        )
