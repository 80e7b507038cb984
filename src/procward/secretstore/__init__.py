"""The secret store (issue 13, decision 0034): named secrets, encrypted at rest.

    store = SecretStore(paths.state_dir, paths.instance)
    store.set("db_url", b"postgres://app:pw@db/app", by="uid 1000")
    store.values({"db_url"})   # {"db_url": b"postgres://..."}, or SecretsUnavailable
    store.names()              # frozenset({"db_url"}), or None: the store cannot be read

``store.py`` holds the operations, ``sealed.py`` the file's bytes
(XChaCha20-Poly1305 from libsodium through PyNaCl, imported only when a store
is read or written), ``keys.py`` where the key comes from, ``errors.py`` what
is raised. Nothing here imports the daemon or the supervisor.
"""

from __future__ import annotations

from procward.secretstore.errors import InvalidSecret, Refused, SecretsError, SecretsUnavailable
from procward.secretstore.store import SecretInfo, SecretStore

__all__ = [
    "InvalidSecret",
    "Refused",
    "SecretInfo",
    "SecretStore",
    "SecretsError",
    "SecretsUnavailable",
]
