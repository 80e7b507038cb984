"""``SecretStore``: named secrets in ``secrets.enc``, sealed with the instance's key.

Inside the seal (``sealed.py``) is JSON::

    {"version": 1, "secrets": {"db_url": {"value": "<base64>", "size": 27,
                                          "set_at": 1796284800.0, "set_by": "uid 1000"}}}

Values are bytes. The file is written as state.json is (``kit._atomic``:
temp file, fsync, rename, the previous version kept as ``.bak``) and read
the same way: a damaged file falls back to its ``.bak``; a missing one is
an empty store ("reset from cold": remove it with the daemon down).

Nothing is cached: every call reads, decrypts, answers and lets the
plaintext go (Python cannot wipe it, but nothing keeps a reference). The
first decryption (or value set) in a process makes it non-dumpable (``PR_SET_DUMPABLE``
0: no core dump, no ptrace or ``/proc/PID/mem`` by other processes of the
user) unless ``harden=False`` (tests in process).

A store that cannot be read (a wrong or missing key, a damaged file and
``.bak``, loose permissions) is never overwritten: ``names()`` is None,
``values()`` says why, and ``set``/``remove``/``rotate_key`` refuse until
an admin fixes the key or runs ``reset()``, which moves the store aside.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

from procward.kit._atomic import backup_path, fsync_dir, read_with_fallback, write_atomic
from procward.kit._errors import CorruptFile
from procward.kit._structs import Struct
from procward.secretstore.errors import InvalidSecret, Refused, SecretsUnavailable
from procward.secretstore.keys import Key, KeyPlace, check_private_file
from procward.secretstore.sealed import (
    HEADER,
    KEY_BYTES,
    Unsealable,
    key_id,
    seal,
    sealed_key_id,
    unseal,
)

log = logging.getLogger("procward.secrets")

FILE = "secrets.enc"
FORMAT = 1
MAX_VALUE = 64 * 1024
MAX_SECRETS = 1000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESET = "procward secret reset"

Entries = dict[str, dict[str, Any]]


class SecretInfo(Struct):
    """What may be shown of a secret: never its value."""

    name: str
    size: int
    set_at: float
    set_by: str


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidSecret(
            f"invalid secret name {name[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_value(value: bytes) -> bytes:
    if not value:
        raise InvalidSecret("a secret's value cannot be empty")
    if len(value) > MAX_VALUE:
        raise InvalidSecret(f"a secret's value is at most {MAX_VALUE} bytes, got {len(value)}")
    return value


class SecretStore:
    def __init__(
        self,
        state_dir: str,
        instance: str,
        *,
        env: Mapping[str, str] | None = None,
        harden: bool = True,
    ) -> None:
        self.path = os.path.join(state_dir, FILE)
        self.keys = KeyPlace(instance, env)
        self.harden = harden
        # One change at a time (read, change, write), and no read in the middle of
        # one: a read between a rotation's new key and its store would find the
        # store sealed with a key it no longer has.
        self._lock = threading.RLock()

    # -- reading ---------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why the store cannot be read now; None when it can."""
        try:
            self._read()
        except SecretsUnavailable as exc:
            return exc.reason
        return None

    def info(self) -> list[SecretInfo]:
        """Every secret's name, size and when and by whom it was set; never a value."""
        entries, _ = self._read()
        return [_info(name, entry) for name, entry in sorted(entries.items())]

    def names(self) -> frozenset[str] | None:
        """The names of the secrets; None when the store cannot be read."""
        try:
            entries, _ = self._read()
        except SecretsUnavailable:
            return None
        return frozenset(entries)

    def values(self, names: Collection[str]) -> dict[str, bytes]:
        """The values of ``names``; SecretsUnavailable naming those missing, or saying why
        the store cannot be read."""
        entries, _ = self._read()
        missing = tuple(sorted(set(names) - entries.keys()))
        if missing:
            listed = ", ".join(repr(name) for name in missing)
            how = "; ".join(f"`procward secret set {name}`" for name in missing)
            raise SecretsUnavailable(
                f"no secret named {listed} in the store; set it with {how}", missing
            )
        return {name: base64.b64decode(entries[name]["value"]) for name in names}

    # -- changing --------------------------------------------------------------------

    def set(self, name: str, value: bytes, by: str) -> tuple[SecretInfo, bool]:
        """Set ``name`` to ``value``: what is now shown of it, and whether it is new."""
        check_name(name)
        check_value(value)
        self._hold_plaintext()  # a value in memory, as much as a decrypted one
        with self._lock:
            entries, key = self._load_for_change("set a secret")
            created = name not in entries
            if created and len(entries) >= MAX_SECRETS:
                raise InvalidSecret(f"the store holds at most {MAX_SECRETS} secrets")
            entries[name] = {
                "value": base64.b64encode(value).decode("ascii"),
                "size": len(value),
                "set_at": time.time(),
                "set_by": by,
            }
            self._write(entries, key or self.keys.create())
        log.info("secret %s %s by %s", name, "added" if created else "changed", by)
        return _info(name, entries[name]), created

    def remove(self, name: str, by: str) -> bool:
        """Remove ``name``; False when there was no such secret."""
        with self._lock:
            entries, key = self._load_for_change("remove a secret")
            if entries.pop(name, None) is None:
                return False
            assert key is not None  # a store with a secret was read with a key
            self._write(entries, key)
        log.info("secret %s removed by %s", name, by)
        return True

    def rotate_key(self) -> tuple[int, str]:
        """Seal every secret with a new key that replaces the key file: (how many, key id)."""
        with self._lock:
            entries, key = self._load_for_change("rotate the key")
            if key is None:
                raise Refused("there is no key yet: the first `procward secret set` makes one")
            if key.path is None:
                raise Refused(
                    f"the key comes from {key.source}, which procward cannot replace: "
                    f"rotate-key changes only its own key file ({self.keys.default_path})"
                )
            self._finish_rotation(entries, key)
            new = self.keys.replace(os.urandom(KEY_BYTES))
            self._write(entries, new)  # and, as .old exists, again, then .old goes
        log.info("secrets key rotated: %d secrets sealed with key %s", len(entries), new.id)
        return len(entries), new.id

    def reset(self) -> tuple[list[str], str]:
        """Move an unreadable store (and its ``.bak``) aside: (the new paths, why it was)."""
        with self._lock:
            why = self.problem()
            if why is None:
                raise Refused(
                    "the secret store is readable: there is nothing to reset "
                    "(`procward secret rm NAME` removes one secret)"
                )
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            moved = [
                _move_aside(path, stamp)
                for path in (self.path, backup_path(self.path))
                if os.path.lexists(path)
            ]
            fsync_dir(os.path.dirname(self.path))
        log.warning("secret store moved aside (%s): %s", why, ", ".join(moved) or "nothing")
        return moved, why

    # -- the file --------------------------------------------------------------------

    def _read(self) -> tuple[Entries, Key | None]:
        with self._lock:
            return self._load()

    def _load(self) -> tuple[Entries, Key | None]:
        """The secrets and the key to write them with (None: no key yet, no store)."""
        key = self.keys.find()
        if not os.path.lexists(self.path):
            return {}, key
        for path in (self.path, backup_path(self.path)):
            if os.path.lexists(path):
                check_private_file(path, os.lstat(path))
        if key is None:
            raise SecretsUnavailable(
                f"{self.path} exists but no key was found (looked at {self.keys.where()}): "
                f"restore the key, or run `{RESET}` to move the store aside and start empty"
            )
        old = self.keys.old()
        known = [key.material] + ([old.material] if old is not None else [])
        self._sealed_with_known(known, key)
        try:
            data = read_with_fallback(self.path, lambda raw: self._opened(raw, known))
        except CorruptFile as exc:
            raise SecretsUnavailable(
                f"the secret store cannot be read ({exc}); run `{RESET}` to move it aside "
                "and start empty"
            ) from None
        return ({} if data is None else data), key

    def _sealed_with_known(self, known: list[bytes], key: Key) -> None:
        """A store sealed with another key: said plainly, not as damage."""
        try:
            with open(self.path, "rb") as f:
                sealed = sealed_key_id(f.read(HEADER + 16))
        except (OSError, Unsealable):
            return  # damage: read_with_fallback says so, and tries the .bak
        if all(sealed != key_id(k) for k in known):
            raise SecretsUnavailable(
                f"{self.path} was sealed with key {sealed}, but the key from {key.source} "
                f"is {key.id}: restore the key it was sealed with, or run `{RESET}` to move "
                "the store aside and start empty"
            )

    def _opened(self, raw: bytes, known: list[bytes]) -> Entries:
        plaintext = unseal(raw, known)
        self._hold_plaintext()
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise Unsealable("its contents are not JSON") from None
        entries = payload.get("secrets") if isinstance(payload, dict) else None
        if not isinstance(entries, dict) or payload.get("version") != FORMAT:
            raise Unsealable(f"its contents are not a secret store of format {FORMAT}")
        return entries

    def _load_for_change(self, what: str) -> tuple[Entries, Key | None]:
        try:
            return self._load()
        except SecretsUnavailable as exc:
            raise SecretsUnavailable(f"cannot {what}: {exc.reason}") from None

    def _write(self, entries: Entries, key: Key) -> None:
        payload = json.dumps({"version": FORMAT, "secrets": entries}, separators=(",", ":"))
        data = seal(payload.encode(), key.material)
        write_atomic(self.path, data, backup=True, mode=0o600)
        self._finish_rotation(entries, key, data)

    def _finish_rotation(self, entries: Entries, key: Key, data: bytes | None = None) -> None:
        """After a rotation (or a crash in one): ``.bak`` sealed with ``key`` too, then no
        ``.old``: the old key then opens nothing of this store."""
        if key.path is None or self.keys.old() is None:
            return
        if data is None:
            payload = json.dumps({"version": FORMAT, "secrets": entries}, separators=(",", ":"))
            data = seal(payload.encode(), key.material)
            write_atomic(self.path, data, backup=True, mode=0o600)
        write_atomic(self.path, data, backup=True, mode=0o600)
        self.keys.forget_old()

    def _hold_plaintext(self) -> None:
        global _hardened
        if self.harden and not _hardened:
            from procward.kit._prctl import PR_SET_DUMPABLE, prctl

            _hardened = prctl(PR_SET_DUMPABLE, 0) == 0


_hardened = False  # this process was made non-dumpable


def _info(name: str, entry: dict[str, Any]) -> SecretInfo:
    return SecretInfo(name, int(entry["size"]), float(entry["set_at"]), str(entry["set_by"]))


def _move_aside(path: str, stamp: str) -> str:
    target, n = f"{path}.unreadable-{stamp}", 1
    while os.path.lexists(target):
        n += 1
        target = f"{path}.unreadable-{stamp}-{n}"
    os.rename(path, target)
    return target
