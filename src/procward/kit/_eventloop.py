"""The daemon's event loop: uvloop when installed, and OpenSSL only when needed.

Importing asyncio or uvloop imports ``ssl``, which maps libssl and libcrypto
and initialises OpenSSL: 4 MiB of resident memory and ~8 ms of start-up, a
fifth of an idle daemon, for TLS that a daemon serving a Unix socket never
uses. ``keep_openssl_out()``, called before anything imports asyncio, imports
asyncio and uvloop without it (decision 0008). Nothing here imports asyncio at
module level, so that the call can come first.
"""

from __future__ import annotations

import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    import types
    from collections.abc import Callable

# ``<PREFIX>_LOOP=asyncio`` (``PROCWARD_LOOP`` for procward) forces the standard
# loop, e.g. to compare; ``DAEMONKIT_LOOP``, the kit's own name, is read when the
# daemon's is not set.
LOOP_ENV = "DAEMONKIT_LOOP"

_kept_out = False  # keep_openssl_out() held in this process: its asyncio has no TLS


def loop_wanted(prefix: str | None = None) -> str:
    """The loop asked for: ``<PREFIX>_LOOP``, else ``DAEMONKIT_LOOP``, else "auto"."""
    if prefix:
        wanted = os.environ.get(f"{prefix.upper()}_LOOP")
        if wanted:
            return wanted
    return os.environ.get(LOOP_ENV) or "auto"


class TLSUnavailable(RuntimeError):
    """TLS was asked of a process that started without OpenSSL."""


def keep_openssl_out(prefix: str | None = None) -> bool:
    """Import asyncio (and uvloop) without loading OpenSSL; True if that held.

    Call it first thing in a daemon's entry point, and only in a daemon that
    will serve no TLS: asyncio then runs as on a Python built without OpenSSL
    (its ``ssl`` is None; a TLS server fails at creation), and uvloop gets a
    stand-in whose context classes refuse to be created. A later
    ``import ssl`` elsewhere still finds the real module.

    Returns False, changing nothing, if ``ssl`` or asyncio is already loaded.
    ``prefix``: the daemon's, whose ``<PREFIX>_LOOP`` may ask for asyncio's loop.
    """
    global _kept_out
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return False
    _kept_out = True
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401  # binds ssl = None in base_events, selector_events, sslproto

        if loop_wanted(prefix) != "asyncio":
            # uvloop needs a few names of `ssl` at import and none without TLS.
            sys.modules["ssl"] = _ssl_stand_in()
            with contextlib.suppress(ImportError):
                import uvloop  # noqa: F401
    finally:
        del sys.modules["ssl"]
    return True


def event_loop_factory(prefix: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (half the per-request latency), else asyncio's own."""
    if loop_wanted(prefix) == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def openssl_kept_out() -> bool:
    """Did ``keep_openssl_out()`` hold here (so asyncio and uvloop cannot serve TLS)?"""
    return _kept_out


def openssl_loaded() -> bool:
    """Whether this process has mapped libssl (for tests and diagnostics)."""
    with open(f"/proc/{os.getpid()}/maps", encoding="ascii", errors="replace") as maps:
        return any("libssl" in line for line in maps)


def _ssl_stand_in() -> types.ModuleType:
    import types

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise TLSUnavailable(
            "TLS is unavailable: this process started without OpenSSL (keep_openssl_out)"
        )

    class Refusing(type):
        # uvloop asks `isinstance(ssl, SSLContext)` exactly when TLS is asked for.
        def __instancecheck__(cls, instance: object) -> bool:
            refuse()
            return False

    module = types.ModuleType("ssl", "stand-in for uvloop's import; see procward.kit._eventloop")
    for name in ("SSLContext", "MemoryBIO"):
        setattr(module, name, Refusing(name, (), {"__init__": refuse}))
    module.create_default_context = refuse  # type: ignore[attr-defined]
    error = type("SSLError", (OSError,), {})
    module.SSLError = error  # type: ignore[attr-defined]
    for name in ("SSLWantReadError", "SSLSyscallError", "SSLZeroReturnError"):
        setattr(module, name, type(name, (error,), {}))
    module.CertificateError = type("CertificateError", (error, ValueError), {})  # type: ignore[attr-defined]
    # The values of OpenSSL's SSL_ERROR_* codes, as the real module has them.
    module.SSL_ERROR_WANT_READ = 2  # type: ignore[attr-defined]
    module.SSL_ERROR_WANT_WRITE = 3  # type: ignore[attr-defined]
    module.SSL_ERROR_SYSCALL = 5  # type: ignore[attr-defined]
    return module
