"""What the secret store raises. Never a value in a message: names, paths and reasons only.

    SecretsError
    ├── SecretsUnavailable   the store or its key cannot be used (why: ``reason``),
    │                        or secrets asked for are not in it (``missing``)
    ├── InvalidSecret        a name or a value out of bounds (a ValueError too)
    └── Refused              an operation that does not apply (rotate a key we do
                             not own, reset a readable store)

The daemon maps ``SecretsUnavailable`` and ``Refused`` to ``Conflict`` and
``InvalidSecret`` to ``InvalidParams``.
"""

from __future__ import annotations


class SecretsError(Exception):
    """Base class of the secret store's errors."""


class SecretsUnavailable(SecretsError):
    """The store cannot be read (or written), or it lacks secrets that were asked for."""

    def __init__(self, reason: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


class InvalidSecret(SecretsError, ValueError):
    """A secret's name or value is out of bounds."""


class Refused(SecretsError):
    """The operation does not apply to the store as it is; the message says why."""
