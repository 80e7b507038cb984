"""The names a shell completion asks for at run time (``procward __complete apps``).

A shell runs this on every TAB, so it must be quick and quiet: it talks
only to a daemon that already runs, on the local socket, with a short
timeout, and says nothing at all when there is none, or when anything goes
wrong (a completion that prints errors into the command line is worse than
none). ``--connect`` is not used: a remote daemon's latency has no place
behind a TAB.
"""

from __future__ import annotations

from procward.kit._client import Client
from procward.kit._paths import InstancePaths

TIMEOUT = 1.0  # s: a daemon too busy to answer this quickly completes nothing


def app_names(paths: InstancePaths) -> list[str]:
    """The running daemon's app names, sorted; none when no daemon runs."""
    try:
        with Client.open(paths.socket, timeout=TIMEOUT) as client:
            apps = client.call("list")
        return sorted(str(app["name"]) for app in apps)
    except Exception:  # silence is the contract: see the module's docstring
        return []
