"""procward: a process supervisor and a kit for building local daemons.

The public surface is small on purpose: ``procward.kit`` for daemon authors and
``procward.Client`` (and ``AsyncClient``) for programs that talk to a running procward daemon.
Everything else is internal and may move.
"""

from __future__ import annotations

from procward._version import __version__

# `typing` costs more to import than a whole `procward ping`: mypy honours a
# local TYPE_CHECKING flag just the same.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from procward.client import AsyncClient, Client, Notification

__all__ = ["AsyncClient", "Client", "Notification", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import procward` stays as cheap as the CLI needs it to be.
    if name in ("Client", "AsyncClient", "Notification"):
        from procward import client

        return getattr(client, name)
    raise AttributeError(f"module 'procward' has no attribute {name!r}")
