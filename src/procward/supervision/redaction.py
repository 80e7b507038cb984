"""Secret values taken out of a stream of output: what ``exec`` sends back.

An ``exec`` command runs with an app's secrets and its output goes back over
the RPC, maybe to another machine: ``procward exec api -- env`` must not
print them. ``Redactor`` replaces every occurrence of a value the command
was given with ``<secret:NAME>``, in chunks as they come.

A value may be split between two chunks, so the last ``len(longest) - 1``
bytes of a chunk are held back until the next (or the end) shows whether
they begin a value; never more than ``LOOK_BACK``, so a value longer than
that, split at the wrong place, is not caught (secrets are rarely more than
a few hundred bytes). What is caught is the value as given, byte for byte:
a program that transforms it (base64, hex, a hash, one character per line)
is not, and cannot be; the redaction stops accidents, not an admin who
means to read a secret (an admin can run any command line anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from procward.supervision.spec import placeholder

__all__ = ["LOOK_BACK", "Redactor"]

LOOK_BACK = 64 * 1024  # bytes held back at most between two chunks


class Redactor:
    """Feed chunks in order, then ``flush()`` at the end; what comes out has no value in it."""

    def __init__(self, values: Mapping[str, bytes], look_back: int = LOOK_BACK) -> None:
        # Longest first: of two values where one contains the other, the longer wins.
        found = sorted(((v, n) for n, v in values.items() if v), key=lambda i: -len(i[0]))
        self._names = {value: placeholder(name).encode() for value, name in found}
        self._pattern = re.compile(b"|".join(re.escape(v) for v, _ in found)) if found else None
        self._hold = min(max((len(v) for v, _ in found), default=1) - 1, look_back)
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """What of ``pending + chunk`` can be told now: values replaced, a tail held back."""
        if self._pattern is None:
            return chunk
        data = self._pending + chunk
        safe = len(data) - self._hold  # a value starting here or later may not be whole yet
        out, pos = [], 0
        for match in self._pattern.finditer(data):
            if match.start() >= safe:
                break
            out += [data[pos : match.start()], self._names[match.group()]]
            pos = match.end()
        cut = max(pos, safe)
        out.append(data[pos:cut])
        self._pending = data[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The tail held back, values replaced: the stream has ended."""
        data, self._pending = self._pending, b""
        if self._pattern is None or not data:
            return data
        return self._pattern.sub(lambda m: self._names[m.group()], data)

    def redact(self, data: bytes) -> bytes:
        """All of ``data`` at once (a stream with nothing before it)."""
        return self.feed(data) + self.flush()
