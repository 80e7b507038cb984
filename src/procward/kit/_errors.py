"""Every error the kit raises, and its JSON-RPC code.

    KitError
    ├── RpcError                      carries a JSON-RPC error code
    │   ├── ParseError         -32700 the frame is not JSON
    │   ├── InvalidRequest     -32600 JSON, but not a JSON-RPC request
    │   ├── MethodNotFound     -32601
    │   ├── InvalidParams      -32602
    │   ├── InternalError      -32603 a handler failed unexpectedly
    │   ├── Unauthorized       -32001 no acceptable credentials
    │   ├── Forbidden          -32002 credentials, but the role is too low
    │   ├── NotFound           -32003
    │   ├── Conflict           -32004
    │   ├── Timeout            -32005
    │   ├── ShuttingDown       -32006
    │   └── NotSaved           -32007 done, but it could not be made durable (disk full)
    ├── DaemonError                   about the daemon process itself
    │   ├── AlreadyRunning
    │   ├── NotRunning
    │   └── StartFailed               carries the daemon's own error text
    │       └── StillStarting         no answer within the start timeout, yet alive
    ├── UnsafeDirectory               wrong owner or permissions
    └── CorruptFile                   a file and its .bak are both unreadable

``RpcError.from_code`` turns a code received over the wire back into the same
class, so a client raises exactly what the daemon raised.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any, ClassVar


class KitError(Exception):
    """Base class of every error raised by ``procward.kit``."""


# Each error class by its wire code, filled as the classes are made (``RpcError.from_code``).
_BY_CODE: dict[int, type[RpcError]] = {}


class RpcError(KitError):
    code: ClassVar[int] = -32603

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:  # a subclass that keeps its parent's code does not claim it
            _BY_CODE[cls.code] = cls

    @classmethod
    def from_code(cls, code: int, message: str, data: Any = None) -> RpcError:
        err = _BY_CODE.get(code, RpcError)(message, data)
        if type(err) is RpcError:
            err.code = code  # type: ignore[misc]  # keep an unknown code visible
        return err

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602


class InternalError(RpcError):
    code = -32603


class Unauthorized(RpcError):
    code = -32001


class Forbidden(RpcError):
    code = -32002


class NotFound(RpcError):
    code = -32003


class Conflict(RpcError):
    code = -32004


class Timeout(RpcError):
    code = -32005


class ShuttingDown(RpcError):
    code = -32006


class NotSaved(RpcError):
    """The change is made, but could not be saved: a crash of the daemon would undo it."""

    code = -32007


class DaemonError(KitError):
    """Something is wrong with the daemon process, not with one request."""


class AlreadyRunning(DaemonError):
    def __init__(self, pid: int | None) -> None:
        where = f" (pid {pid})" if pid else ""
        super().__init__(f"already running{where}")
        self.pid = pid


class NotRunning(DaemonError):
    def __init__(self, what: str = "daemon") -> None:
        super().__init__(f"{what} is not running")


class StartFailed(DaemonError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"daemon failed to start: {reason}")
        self.reason = reason


class StillStarting(StartFailed):
    """The daemon did not report ready in time, but it has not failed either.

    Its start may legitimately take long (ending a crashed predecessor's
    leftovers, restoring what ran before); saying "failed" would be false,
    and the next command finds it serving.
    """

    def __init__(self, timeout: float, log_path: str, pid: int | None = None) -> None:
        who = f" (pid {pid})" if pid else ""
        reason = (
            f"the daemon did not answer within {timeout:g}s; still starting{who}, see {log_path}"
        )
        DaemonError.__init__(self, reason)
        self.reason = reason
        self.timeout = timeout
        self.log_path = log_path
        self.pid = pid


class UnsafeDirectory(KitError):
    pass


class CorruptFile(KitError):
    pass
