"""``procward.Client``: talk to a procward daemon from Python.

    from procward import Client

    with Client() as pw:            # starts the daemon if it is not running
        print(pw.ping()["version"])

Every method of the daemon is reachable through ``call(name, **params)``;
the common ones have typed wrappers. Errors are the kit's ``RpcError``
subclasses, exactly as the daemon raised them.
"""

from __future__ import annotations

import sys

from procward.kit._client import Client as _Connection
from procward.kit._client import connect
from procward.kit._paths import InstancePaths, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# How long a command waits for a daemon it started to report ready. Its start
# may take up to ~15 s by design: ending a crashed daemon's leftovers (10 s at
# most, for apps that ignore their stop signal) and restoring the apps (5 s at
# most before it serves). Past this, it is said to be still starting, not failed.
START_TIMEOUT = 20.0


def daemon_argv(paths: InstancePaths, *extra: str) -> list[str]:
    """The command that runs the daemon of ``paths``' instance."""
    return [sys.executable, "-m", "procward.daemon", "--instance", paths.instance, *extra]


class Client:
    def __init__(
        self,
        instance: str | None = None,
        *,
        paths: InstancePaths | None = None,
        spawn: bool = True,
        wait: float = 2.0,
    ) -> None:
        self.paths = paths or resolve("procward", instance)
        argv = daemon_argv(self.paths, "--detached") if spawn else None
        self._conn: _Connection = connect(
            self.paths, spawn_argv=argv, wait=wait, start_timeout=START_TIMEOUT
        )

    def call(self, method: str, /, **params: Any) -> Any:
        return self._conn.call(method, params)

    def ping(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("ping")
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("status")
        return result

    def shutdown(self) -> None:
        self.call("shutdown")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
