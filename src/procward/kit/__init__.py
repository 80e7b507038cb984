"""procward.kit: the machinery every local daemon needs.

Instance paths, a single-instance lock immune to PID recycling, detached start
with a ready handshake, a Unix-socket JSON-RPC server and an auto-spawning
client, atomic files with a ``.bak`` fallback, a scheduler, logging, graceful
shutdown with deadlines, sd_notify, socket activation and service units.

The kit knows nothing of procward's supervisor; any Python tool can build a
daemon on it (see ``examples/counterd.py``). The names below are the public
API; they load lazily so that a CLI importing one piece pays for that piece.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: the CLI imports kit modules
if TYPE_CHECKING:
    from typing import Any

    from procward.kit.aclient import AsyncClient
    from procward.kit.atomic import read_with_fallback, write_atomic
    from procward.kit.client import Client, connect
    from procward.kit.control import kill, stop
    from procward.kit.daemon import Daemon
    from procward.kit.errors import (
        AlreadyRunning,
        CorruptFile,
        DaemonError,
        Forbidden,
        InvalidParams,
        KitError,
        NotFound,
        NotRunning,
        RpcError,
        StartFailed,
        Unauthorized,
        UnsafeDirectory,
    )
    from procward.kit.metadata import Liveness, Metadata, running
    from procward.kit.paths import InstancePaths, instance_for_project, resolve
    from procward.kit.rpc import CallContext, Peer, Role, TokenHints, method
    from procward.kit.scheduler import Scheduler
    from procward.kit.snapshot import Snapshot
    from procward.kit.units import launchd_plist, systemd_units

_EXPORTS = {
    "AsyncClient": "aclient",
    "read_with_fallback": "atomic",
    "write_atomic": "atomic",
    "Client": "client",
    "connect": "client",
    "kill": "control",
    "stop": "control",
    "Daemon": "daemon",
    "AlreadyRunning": "errors",
    "CorruptFile": "errors",
    "DaemonError": "errors",
    "Forbidden": "errors",
    "InvalidParams": "errors",
    "KitError": "errors",
    "NotFound": "errors",
    "NotRunning": "errors",
    "RpcError": "errors",
    "StartFailed": "errors",
    "Unauthorized": "errors",
    "UnsafeDirectory": "errors",
    "Liveness": "metadata",
    "Metadata": "metadata",
    "running": "metadata",
    "InstancePaths": "paths",
    "instance_for_project": "paths",
    "resolve": "paths",
    "CallContext": "rpc",
    "Peer": "rpc",
    "Role": "rpc",
    "method": "rpc",
    "TokenHints": "rpc",
    "Scheduler": "scheduler",
    "Snapshot": "snapshot",
    "launchd_plist": "units",
    "systemd_units": "units",
}

__all__ = [
    "AlreadyRunning",
    "AsyncClient",
    "CallContext",
    "Client",
    "CorruptFile",
    "Daemon",
    "DaemonError",
    "Forbidden",
    "InstancePaths",
    "InvalidParams",
    "KitError",
    "Liveness",
    "Metadata",
    "NotFound",
    "NotRunning",
    "Peer",
    "Role",
    "RpcError",
    "Scheduler",
    "Snapshot",
    "StartFailed",
    "TokenHints",
    "Unauthorized",
    "UnsafeDirectory",
    "connect",
    "instance_for_project",
    "kill",
    "launchd_plist",
    "method",
    "read_with_fallback",
    "resolve",
    "running",
    "stop",
    "systemd_units",
    "write_atomic",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'procward.kit' has no attribute {name!r}")
    import importlib  # here, not at the top: `import procward.kit.wire` runs this file

    value = getattr(importlib.import_module(f"procward.kit.{module}"), name)
    globals()[name] = value
    return value
