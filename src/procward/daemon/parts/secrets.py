"""The secret store's methods: list (viewer); set, remove, rotate the key, reset (admin).

The store (``procward.secretstore``) is made at the first call, and with it
``nacl`` (libsodium) is imported at the first read: a daemon whose apps use no
secret never loads either (decision 0034). Every call runs the store in a
thread (a key command may take seconds; a large store takes milliseconds
to decrypt) and changes are made one at a time.

A value never leaves this module but into the store: not in a reply, not
in an error (a bad value is described, never shown), not in the log, and
not in the audit log: ``WITHHELD`` names the parameters the audit trail
records as ``"***"`` whatever their name.

A store that cannot be read is reported once in the daemon's log (and
again if the reason changes); ``listSecrets`` says why each time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from procward.kit._errors import Conflict, InvalidParams, NotFound
from procward.kit._rpc import CallContext, Peer, Role, method

if TYPE_CHECKING:
    from procward.secretstore import SecretInfo, SecretStore

log = logging.getLogger("procward.daemon")
T = TypeVar("T")

# Method -> parameters whose values the audit trail never records.
WITHHELD: dict[str, frozenset[str]] = {"setSecret": frozenset({"value"})}
ENCODINGS = ("utf-8", "base64")


class Users(Protocol):
    """Who uses a secret (the ``Supervisor``)."""

    def apps_using(self, secret: str) -> list[str]: ...

    def secret_changed(self, secret: str) -> list[str]:
        """Mark the live processes given the old value; the apps that use it."""
        ...


class Secrets:
    """The secret store as a part, and the supervisor's ``SecretSource``.

    The supervisor asks ``values`` at each spawn that needs a secret and
    ``names`` when a config refers to one (``supervision/secretrefs.py``).
    """

    def __init__(self, state_dir: str, instance: str, users: Users) -> None:
        self.state_dir = state_dir
        self.instance = instance
        self.users = users
        self._store: SecretStore | None = None
        self._changing = asyncio.Lock()
        self._reported: str | None = None  # the unreadable store's reason, once logged

    def store(self) -> SecretStore:
        if self._store is None:
            from procward.secretstore import SecretStore

            self._store = SecretStore(self.state_dir, self.instance)
        return self._store

    def values(self, names: Collection[str]) -> dict[str, bytes]:
        """The values of ``names`` for one spawn; ``secretrefs.SecretsUnavailable`` if not."""
        from procward.secretstore import SecretsUnavailable as Unreadable
        from procward.supervision.secretrefs import SecretsUnavailable

        try:
            return self.store().values(names)
        except Unreadable as exc:
            if exc.missing:  # the store lacks names: its message names them
                raise SecretsUnavailable(exc.reason) from None
            self.report_unreadable(exc.reason)  # the store itself: say which were wanted
            wanted = ", ".join(repr(name) for name in sorted(names))
            raise SecretsUnavailable(f"cannot give {wanted}: {exc.reason}") from None

    def names(self) -> frozenset[str] | None:
        """The names in the store, or None when it cannot be read (said once in the log)."""
        store = self.store()
        found = store.names()
        self.report_unreadable(store.problem() if found is None else None)
        return found

    def users_of(self, name: str) -> list[str]:
        return self.users.apps_using(name)

    def report_unreadable(self, reason: str | None) -> None:
        """Log why the store cannot be read, once per reason."""
        if reason is not None and reason != self._reported:
            log.error("the secret store cannot be read: %s", reason)
        self._reported = reason

    @method(Role.VIEWER, result="SecretsReport")
    async def listSecrets(self, ctx: CallContext) -> dict[str, Any]:
        """Each secret's name, size, when and by whom it was set, and the apps that use it;
        never a value. ``readable`` false and ``problem`` when the store cannot be read."""
        from procward.secretstore import SecretsUnavailable

        store = self.store()
        try:
            found = await asyncio.to_thread(store.info)
            problem = None
        except SecretsUnavailable as exc:
            found, problem = [], exc.reason
        self.report_unreadable(problem)
        return {
            "readable": problem is None,
            "problem": problem,
            "path": store.path,
            "secrets": [self._shown(info) for info in found],
        }

    @method(Role.ADMIN, result="SecretSet")
    async def setSecret(
        self, ctx: CallContext, name: str, value: str, encoding: str = "utf-8"
    ) -> dict[str, Any]:
        """Set secret ``name``; ``value`` is text, or base64 with ``encoding="base64"``
        (any bytes). At most 64 KiB; never recorded in the audit log."""
        raw = _decoded(value, encoding)
        store = self.store()
        info, created = await self._change(lambda: store.set(name, raw, by=_who(ctx.peer)))
        self.users.secret_changed(name)  # its users' processes hold the old value
        return {**self._shown(info), "created": created}

    @method(Role.ADMIN, result="SecretRemoved")
    async def removeSecret(self, ctx: CallContext, name: str) -> dict[str, Any]:
        """Remove secret ``name``; apps that use it then fail to start, saying so."""
        store = self.store()
        if not await self._change(lambda: store.remove(name, by=_who(ctx.peer))):
            raise NotFound(f"no secret named {name[:80]!r}")
        return {"name": name, "used_by": self.users_of(name)}

    @method(Role.ADMIN, result="SecretsKeyRotated")
    async def rotateSecretsKey(self, ctx: CallContext) -> dict[str, Any]:
        """Seal every secret with a new key, which replaces the key file."""
        store = self.store()
        count, key_id = await self._change(store.rotate_key)
        return {"secrets": count, "key_id": key_id, "key": store.keys.default_path}

    @method(Role.ADMIN, result="SecretsReset")
    async def resetSecrets(self, ctx: CallContext) -> dict[str, Any]:
        """Move a store that cannot be read aside (``secrets.enc.unreadable-<time>``) and
        start an empty one. Refused while the store is readable."""
        store = self.store()
        moved, why = await self._change(store.reset)
        self._reported = None
        return {"moved": moved, "reason": why}

    async def _change(self, change: Callable[[], T]) -> T:
        from procward.secretstore import InvalidSecret, SecretsError

        async with self._changing:
            try:
                return await asyncio.to_thread(change)
            except InvalidSecret as exc:
                raise InvalidParams(str(exc)) from None
            except SecretsError as exc:
                raise Conflict(str(exc)) from None
            except OSError as exc:  # a full disk: nothing was changed
                where = exc.filename or "the secret store"
                raise Conflict(f"cannot write {where}: {exc.strerror or exc}") from None

    def _shown(self, info: SecretInfo) -> dict[str, Any]:
        return {
            "name": info.name,
            "size": info.size,
            "set_at": info.set_at,
            "set_by": info.set_by,
            "used_by": self.users_of(info.name),
        }


def _decoded(value: str, encoding: str) -> bytes:
    """The bytes of a value as sent; an error describes it, never shows it."""
    if encoding == "utf-8":
        return value.encode("utf-8")
    if encoding == "base64":
        try:
            import base64  # here: an idle daemon has no use for it

            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error is one
            raise InvalidParams("setSecret: value is not valid base64") from None
    raise InvalidParams("setSecret: encoding must be utf-8 or base64")  # not echoed: swapped?


def _who(peer: Peer) -> str:
    """Who set a secret, as the list shows it: a token's subject, or a local user."""
    if peer.subject is not None:
        return peer.subject[:200]
    if peer.uid is not None:
        return f"uid {peer.uid}"
    return peer.address or peer.transport
