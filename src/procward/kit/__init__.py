"""procward.kit: the machinery every local daemon needs.

Instance paths, a single-instance lock immune to PID recycling, detached start
with a ready handshake, a Unix-socket JSON-RPC server and an auto-spawning
client, atomic files with a ``.bak`` fallback, a scheduler, logging, graceful
shutdown with deadlines, sd_notify, socket activation and service units.

The kit knows nothing of procward's supervisor; any Python tool can build a
daemon on it (see ``examples/counterd.py``). The names in ``__all__`` are
the public API, with one public submodule, ``procward.kit.testing``; every
other module is an implementation detail (``_name.py``) that may change.
The names load lazily so that a CLI importing one piece pays for that piece.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: the CLI imports kit modules
if TYPE_CHECKING:
    from typing import Any

    from procward.kit._aclient import AsyncClient
    from procward.kit._atomic import read_with_fallback, write_atomic
    from procward.kit._client import Client, connect
    from procward.kit._control import kill, stop
    from procward.kit._daemon import Daemon
    from procward.kit._durations import format_duration, parse_duration
    from procward.kit._errors import (
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
    from procward.kit._eventloop import keep_openssl_out
    from procward.kit._limits import Limits
    from procward.kit._metadata import Liveness, Metadata, running
    from procward.kit._notify import (
        NotifyReceiver,
        activated_fds,
        listen_fds,
        notify,
        watchdog_interval,
    )
    from procward.kit._paths import InstancePaths, instance_for_project, resolve
    from procward.kit._rotation import rotate, rotated_names
    from procward.kit._rpc import CallContext, Peer, Role, TokenHints, method
    from procward.kit._scheduler import Scheduler
    from procward.kit._snapshot import Snapshot
    from procward.kit._structs import RecordError, Struct, field, replace
    from procward.kit._units import launchd_plist, systemd_units

_EXPORTS = {  # name -> the private module that defines it
    "AsyncClient": "aclient",
    "read_with_fallback": "atomic",
    "write_atomic": "atomic",
    "Client": "client",
    "connect": "client",
    "kill": "control",
    "stop": "control",
    "Daemon": "daemon",
    "format_duration": "durations",
    "parse_duration": "durations",
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
    "keep_openssl_out": "eventloop",
    "Limits": "limits",
    "Liveness": "metadata",
    "Metadata": "metadata",
    "running": "metadata",
    "activated_fds": "notify",
    "listen_fds": "notify",
    "notify": "notify",
    "NotifyReceiver": "notify",
    "watchdog_interval": "notify",
    "instance_for_project": "paths",
    "InstancePaths": "paths",
    "resolve": "paths",
    "rotate": "rotation",
    "rotated_names": "rotation",
    "CallContext": "rpc",
    "method": "rpc",
    "Peer": "rpc",
    "Role": "rpc",
    "TokenHints": "rpc",
    "Scheduler": "scheduler",
    "Snapshot": "snapshot",
    "field": "structs",
    "RecordError": "structs",
    "replace": "structs",
    "Struct": "structs",
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
    "Limits",
    "Liveness",
    "Metadata",
    "NotFound",
    "NotRunning",
    "NotifyReceiver",
    "Peer",
    "RecordError",
    "Role",
    "RpcError",
    "Scheduler",
    "Snapshot",
    "StartFailed",
    "Struct",
    "TokenHints",
    "Unauthorized",
    "UnsafeDirectory",
    "activated_fds",
    "connect",
    "field",
    "format_duration",
    "instance_for_project",
    "keep_openssl_out",
    "kill",
    "launchd_plist",
    "listen_fds",
    "method",
    "notify",
    "parse_duration",
    "read_with_fallback",
    "replace",
    "resolve",
    "rotate",
    "rotated_names",
    "running",
    "stop",
    "systemd_units",
    "watchdog_interval",
    "write_atomic",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'procward.kit' has no attribute {name!r}")
    import importlib  # here, not at the top: `import procward.kit._wire` runs this file

    value = getattr(importlib.import_module(f"procward.kit._{module}"), name)
    globals()[name] = value
    return value
