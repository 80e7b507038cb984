"""How a client starts procward's daemon: its command, and how long its start may take.

Apart from ``procward.client`` so that the CLI, which starts daemons too,
does not import the typed client to learn two things (decision 0005).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from procward.kit._paths import InstancePaths


# How long a command waits for a daemon it started to report ready. Its start
# may take up to ~15 s by design: ending a crashed daemon's leftovers (10 s at
# most, for apps that ignore their stop signal) and restoring the apps (5 s at
# most before it serves). Past this, it is said to be still starting, not failed.
START_TIMEOUT = 20.0


def daemon_argv(paths: InstancePaths, *extra: str) -> list[str]:
    """The command that runs the daemon of ``paths``' instance."""
    return [sys.executable, "-m", "procward.daemon", "--instance", paths.instance, *extra]
