"""The Redis connection of a node: URL, password and timeouts, from ``[daemon.cluster]``.

The password is resolved here, when the fleet starts, not when the file is
read: ``secret:NAME`` from the daemon's secret store, ``${VAR}`` from the
daemon's environment, else the text itself. Every socket operation is
bounded (a node's tick must end, whatever Redis does) and redis-py's own
retries are off: the node's loop is the retry, once per heartbeat.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from procward.supervision.clusterkeys import ClusterSettings

__all__ = ["FleetSetupError", "connect", "resolve_password"]

# Reads secrets' values by name (the daemon's secret store).
SecretValues = Callable[[Collection[str]], dict[str, bytes]]


class FleetSetupError(ValueError):
    """The fleet cannot start as configured; ``str()`` says why and what to do."""


def resolve_password(text: str | None, secrets: SecretValues | None) -> str | None:
    if text is None:
        return None
    if text.startswith("secret:"):
        name = text[len("secret:") :]
        if secrets is None:
            raise FleetSetupError(f"password: no secret store to read {name!r} from")
        try:
            return secrets([name])[name].decode()
        except Exception as exc:  # missing, unreadable store, not UTF-8: all said the same way
            raise FleetSetupError(f"password: cannot read the secret {name!r}: {exc}") from None
    found = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    if found:
        env = os.environ.get(found[1])
        if env is None:
            raise FleetSetupError(
                f"password: ${{{found[1]}}} is not set in the daemon's environment"
            )
        return env
    return text


def connect(settings: ClusterSettings, secrets: SecretValues | None) -> Redis:
    """A client (no connection is made until the first command)."""
    try:
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise FleetSetupError(
            "the fleet needs the redis package: pip install 'procward[fleet]'"
        ) from None
    timeout = max(0.5, settings.heartbeat)
    password = resolve_password(settings.password, secrets)
    return Redis.from_url(
        settings.redis,
        password=password,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
