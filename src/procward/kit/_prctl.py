"""``prctl(2)`` through ``_ctypes``, not the ``ctypes`` package.

The ``ctypes`` package makes dozens of C types at import, ~0.2 MiB of an
idle daemon's RSS (decision 0033) for a call or two in its life; ``_ctypes``
alone is enough to call one libc function. ``supervision.process``'s
``become_subreaper`` does the same by hand; this is the kit's one way.
"""

from __future__ import annotations

import os

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def prctl(option: int, arg: int = 0) -> int | None:
    """``prctl(option, arg, 0, 0, 0)``'s return value; None where it cannot be called."""
    try:
        import _ctypes

        class Int(_ctypes._SimpleCData):  # type: ignore[type-arg]
            _type_ = "i"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = Int

        class Libc:
            _handle = _ctypes.dlopen(None, os.RTLD_LOCAL)  # type: ignore[arg-type]  # this program

        call = Function(("prctl", Libc()))  # type: ignore[arg-type]  # what CDLL gives: _handle
        result: int = call(option, arg, 0, 0, 0)
        return result
    except (ImportError, OSError, AttributeError):
        return None
