"""Where the store's key comes from, and how the one file we own is made and replaced.

The first of these that exists wins:

1. ``$PROCWARD_SECRETS_KEY``: the base64 of 32 bytes, in the daemon's
   environment (containers, CI);
2. ``$PROCWARD_SECRETS_KEY_COMMAND``: a shell command that prints it (a
   vault, a password manager), run with a timeout the first time the key is
   needed; its key is then kept, as the one of 1 is, for the process's life
   (a spawn must not wait for a vault, nor run a command for each restart);
3. ``$CREDENTIALS_DIRECTORY/procward-secrets.key`` (systemd's ``LoadCredential=``);
4. the default key file, ``<instance>.key`` in a directory of its own, apart
   from the state directory so that a backup of the state holds no key:
   ``$PROCWARD_HOME/.keys/`` when ``PROCWARD_HOME`` is set (tests; a dot,
   so that it is never an instance's directory), else
   ``$XDG_CONFIG_HOME/procward/keys/`` (``~/.config/procward/keys/``).

Only the default key file is ours: it is created (0600, in a 0700
directory) by the first write to an empty store, never by a read, and
replaced by ``rotate-key``. The others belong to whoever set them up.

A key file that group or others may read, or that another user owns, is
refused with the ``chmod`` that fixes it, as ``kit._paths`` refuses a loose
directory: it is never "fixed" behind the admin's back, because a loose
key may already have been read.

Replacing the key survives a crash at any point: the new key is written
beside the old (``.new``), the old one is kept as ``.old``, the new one is
renamed into place, the store is rewritten with it, and only then is
``.old`` removed. A reader finds the key a store was sealed with by its key
id, the current one or ``.old``; the next write finishes what a crash left.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from collections.abc import Mapping

from procward.kit._atomic import fsync_dir
from procward.kit._errors import UnsafeDirectory
from procward.kit._paths import check_private, check_private_dir, ensure_private_dir
from procward.secretstore.errors import SecretsUnavailable
from procward.secretstore.sealed import KEY_BYTES, key_id

ENV_KEY = "PROCWARD_SECRETS_KEY"
ENV_COMMAND = "PROCWARD_SECRETS_KEY_COMMAND"
CREDENTIAL = "procward-secrets.key"
COMMAND_TIMEOUT = 10.0
_MAKE_ONE = "make one with: head -c 32 /dev/urandom | base64"


class Key:
    """A key, where it came from (for people), and its file when the file is ours."""

    __slots__ = ("material", "path", "source")

    def __init__(self, material: bytes, source: str, path: str | None = None) -> None:
        self.material = material
        self.source = source
        self.path = path

    @property
    def id(self) -> str:
        return key_id(self.material)


class KeyPlace:
    """The key of one instance: found, made on first write, replaced by a rotation."""

    def __init__(self, instance: str, env: Mapping[str, str] | None = None) -> None:
        self.instance = instance
        self._env = env
        self._commanded: tuple[str, bytes] | None = None  # (command, its key) once it ran

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    @property
    def default_path(self) -> str:
        home = self.env.get("PROCWARD_HOME")
        if home:
            folder = os.path.join(os.path.abspath(os.path.expanduser(home)), ".keys")
        else:
            config = self.env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
            folder = os.path.join(config, "procward", "keys")
        return os.path.join(folder, f"{self.instance}.key")

    def find(self) -> Key | None:
        """The key, from the first source that has one; None when none has one yet."""
        text = self.env.get(ENV_KEY)
        if text:
            return Key(_decoded(text.encode(), f"${ENV_KEY}"), f"${ENV_KEY}")
        command = self.env.get(ENV_COMMAND)
        if command:
            if self._commanded is None or self._commanded[0] != command:
                self._commanded = (command, _from_command(command, self.env))
            return Key(self._commanded[1], f"the command in ${ENV_COMMAND}")
        credentials = self.env.get("CREDENTIALS_DIRECTORY")
        if credentials and os.path.lexists(path := os.path.join(credentials, CREDENTIAL)):
            return Key(_read_key_file(path), path)
        return self._own(self.default_path)

    def where(self) -> str:
        """Where ``find`` looks, for a message saying no key was found."""
        return (
            f"${ENV_KEY}, ${ENV_COMMAND}, $CREDENTIALS_DIRECTORY/{CREDENTIAL} "
            f"and {self.default_path}"
        )

    def old(self) -> Key | None:
        """The key an interrupted rotation replaced, while the store may still need it."""
        return self._own(self.default_path + ".old")

    def create(self) -> Key:
        """Make the default key file (for the first write to an empty store)."""
        path = self.default_path
        try:
            ensure_private_dir(os.path.dirname(path))
        except UnsafeDirectory as exc:
            raise SecretsUnavailable(str(exc)) from None
        material = os.urandom(KEY_BYTES)
        try:
            _write_new(path, material)
        except FileExistsError:  # made in between: that one is the key
            found = self._own(path)
            assert found is not None
            return found
        return Key(material, path, path)

    def replace(self, material: bytes) -> Key:
        """The rotation's first half: the new key in place, the old kept as ``.old``.

        The caller rewrites the store with the new key, then calls ``forget_old``.
        """
        path = self.default_path
        fresh, old = path + ".new", path + ".old"
        _unlink(fresh)  # left by a crash before the rename: never used
        _write_new(fresh, material)
        _unlink(old)  # the caller finished any earlier rotation: the store needs no .old
        os.link(path, old)
        os.replace(fresh, path)
        fsync_dir(os.path.dirname(path))
        return Key(material, path, path)

    def forget_old(self) -> bool:
        """Remove ``.old`` once nothing is sealed with it; whether there was one."""
        path = self.default_path + ".old"
        if not os.path.lexists(path):
            return False
        os.unlink(path)
        fsync_dir(os.path.dirname(path))
        return True

    def _own(self, path: str) -> Key | None:
        folder = os.path.dirname(path)
        if not os.path.lexists(path):
            return None
        try:
            check_private_dir(folder)
        except UnsafeDirectory as exc:
            raise SecretsUnavailable(f"the key's directory is unsafe: {exc}") from None
        return Key(_read_key_file(path), path, path)


def check_private_file(path: str, st: os.stat_result, want: str = "0600") -> None:
    """Refuse a file (a key, the store) that is not ours alone, with the fix in the message."""
    if not stat.S_ISREG(st.st_mode):
        raise SecretsUnavailable(f"{path} is not a regular file; refusing to use it")
    try:
        check_private(path, st, want)  # the rule and wording of the state directories
    except UnsafeDirectory as exc:
        raise SecretsUnavailable(str(exc)) from None


def _read_key_file(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretsUnavailable(f"cannot read the key {path}: {exc.strerror or exc}") from None
    try:
        check_private_file(path, os.fstat(fd))
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    return _decoded(raw, path)


def _decoded(raw: bytes, where: str) -> bytes:
    """The 32 bytes of a key given as base64 text; never the text in an error."""
    try:
        material = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        material = b""
    if len(material) != KEY_BYTES:
        raise SecretsUnavailable(
            f"{where} holds no key: it must be the base64 of {KEY_BYTES} random bytes ({_MAKE_ONE})"
        )
    return material


def _from_command(command: str, env: Mapping[str, str]) -> bytes:
    """Run the key command; its output is the key. Neither is ever in a message."""
    import subprocess

    from procward.kit import _children as children

    what = f"the key command in ${ENV_COMMAND}"
    try:
        # Claimed from the daemon's reaper, which would take its exit status.
        done = children.run(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            env=dict(env),
        )
    except subprocess.TimeoutExpired:
        raise SecretsUnavailable(f"{what} did not finish within {COMMAND_TIMEOUT:g}s") from None
    except OSError as exc:
        raise SecretsUnavailable(f"cannot run {what}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        why = f": {said[-1][:200]}" if said else ""
        raise SecretsUnavailable(f"{what} failed (exit status {done.returncode}){why}")
    return _decoded(done.stdout, f"the output of {what}")


def _write_new(path: str, material: bytes) -> None:
    """Create ``path`` (it must not exist) 0600 with the key as base64, durably."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, base64.b64encode(material) + b"\n")
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)  # never half a key where a key is looked for
        raise
    os.close(fd)
    fsync_dir(os.path.dirname(path))


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
