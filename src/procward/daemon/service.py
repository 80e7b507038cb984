"""``ProcwardDaemon``: procward's methods wired onto the kit's ``Daemon``."""

from __future__ import annotations

import time
from typing import Any

from procward._version import __version__
from procward.kit.daemon import Daemon
from procward.kit.rpc import CallContext, Role, method


class ProcwardDaemon(Daemon):
    prefix = "procward"
    version = __version__

    @method(Role.VIEWER)
    def status(self, ctx: CallContext) -> dict[str, Any]:
        """The daemon's own state (apps join in with the supervisor)."""
        return {
            "daemon": {
                "pid": self.pid,
                "version": self.version,
                "instance": self.paths.instance,
                "started_at": self.started_at,
                "uptime": round(time.time() - self.started_at, 3),
                "connections": len(self.server.connections),
                "paths": self.paths.as_dict(),
            },
            "apps": [],
        }
