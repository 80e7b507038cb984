"""One audit entry, the line of JSON it becomes and back (the pure half of ``audit``).

A line is one JSON object with the keys ``time``, ``transport``, ``who``,
``role``, ``method``, ``params``, ``outcome``, ``error`` and ``duration_ms``;
an entry that stands for several alike refusals (see ``refusals``) adds
``count`` and ``until`` (the time of the last one).

Params never hold secrets and never much text: ``for_call`` keeps a bounded,
masked copy (``procward.kit._masking.bounded``: secret-looking names at any
depth and secret positional params become ``"***"``, and so do the params a
method declares withheld (``withhold``: setSecret's ``value``), strings are cut to 200
characters, containers to 50 items and 6 levels), made on the event loop
before the entry is queued, so a client's megabyte of params is never held.
Encoding masks again (entries built by hand), and stores the cut text, a
string ending in ``…``, when the compact JSON is over 2,000 characters.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from procward.kit._masking import MASK, bounded
from procward.kit._structs import Struct

if TYPE_CHECKING:
    from procward.kit._rpc import Peer

MAX_PARAMS_CHARS = 2_000
MAX_TEXT = 500  # characters of ``who`` and ``error`` kept
BLOCK = 64 * 1024  # reading backwards, this much at a time

Params: TypeAlias = dict[str, Any] | list[Any] | None


class AuditEntry(Struct):
    """One call (or ``count`` alike refusals, the last at ``until``) as the audit log keeps it."""

    time: float  # unix time the call arrived
    transport: str  # "unix", "tcp" or "http"
    who: str  # "uid 1000 pid 4242", or a token's subject
    role: str
    method: str
    params: Params
    outcome: str  # "ok" or "error"
    error: str | None
    duration_ms: float
    count: int = 1
    until: float | None = None
    token: str | None = None  # the id of the token the call came with (`token revoke ID`)

    @classmethod
    def for_call(
        cls,
        peer: Peer,
        method: str,
        params: Params,
        *,
        started: float,
        duration_ms: float,
        error: str | None = None,
        positional: Sequence[str] | None = None,
    ) -> AuditEntry:
        """The entry of one call, with bounded, masked params.

        ``positional``: the method's parameter names in order, to know which
        items of params given as a list are secrets (an unnamed one is).
        """
        outcome = "ok" if error is None else "error"
        role = peer.role.name.lower()
        return cls(
            started,
            peer.transport,
            describe(peer),
            role,
            method[:MAX_TEXT],
            bounded(params, positional),
            outcome,
            None if error is None else error[:MAX_TEXT],
            duration_ms,
            token=peer.token_id,
        )


def withhold(params: Params, hidden: frozenset[str], positional: Sequence[str]) -> Params:
    """``params`` with the values of the ``hidden`` parameters (by name, or by position
    in ``positional``) replaced by ``"***"``, before anything else sees them."""
    if isinstance(params, dict):
        return {k: MASK if k in hidden else v for k, v in params.items()}
    if isinstance(params, list):
        names = list(positional)
        return [MASK if i < len(names) and names[i] in hidden else v for i, v in enumerate(params)]
    return params


def describe(peer: Peer) -> str:
    """The ``who`` of a peer: its token's subject, its Unix credentials, or its address."""
    if peer.subject is not None:
        return peer.subject[:MAX_TEXT]
    parts = [
        f"uid {peer.uid}" if peer.uid is not None else "",
        f"pid {peer.pid}" if peer.pid is not None else "",
    ]
    return " ".join(p for p in parts if p) or peer.address or "unknown"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


def encode_params(params: Params) -> str:
    """The JSON stored for ``params``: masked, and a cut string when too long."""
    if params is None:
        return "null"
    try:
        text = dumps(bounded(params))
    except (TypeError, ValueError, RecursionError) as exc:  # odd keys, a cycle, absurd depth
        return dumps(f"<params not encodable: {exc}>")
    if len(text) <= MAX_PARAMS_CHARS:
        return text
    return dumps(text[: MAX_PARAMS_CHARS - 1] + "…")


def encode(entry: AuditEntry) -> bytes:
    """One line of the log, newline included: keys in the order of the fields."""
    head = {f: getattr(entry, f) for f in ("time", "transport", "who", "role", "method")}
    if entry.token is not None:
        head["token"] = entry.token
    ending = {"outcome": entry.outcome, "error": entry.error, "duration_ms": entry.duration_ms}
    if entry.count != 1:
        ending.update(count=entry.count, until=entry.until)
    tail = dumps(ending)
    line = f'{dumps(head)[:-1]},"params":{encode_params(entry.params)},{tail[1:]}\n'
    # A lone surrogate becomes the escape \udcxx, which is still valid JSON in a string.
    return line.encode("utf-8", "backslashreplace")


def backwards(f: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``f`` last first, read in blocks from the end."""
    end = f.seek(0, os.SEEK_END)
    tail = b""
    while end > 0:
        start = max(0, end - BLOCK)
        f.seek(start)
        lines = (f.read(end - start) + tail).split(b"\n")
        end, tail = start, lines[0]  # maybe the end of a line in the block before
        yield from reversed(lines[1:])
    yield tail


def parse(raw: bytes) -> dict[str, Any] | None:
    """One entry, or None for a line that is not one (a torn line, junk)."""
    try:
        row = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    ok = isinstance(row, dict) and type(row.get("time")) in (int, float)
    return row if ok else None


def ends_at(row: dict[str, Any]) -> float:
    """About when the call (the last of ``count``) ended and was recorded: the log's order."""
    ms = row.get("duration_ms")
    until = row.get("until")
    start = float(until if isinstance(until, int | float) else row["time"])
    return start + (ms / 1000 if isinstance(ms, int | float) else 0.0)


def drop_notice(dropped: int) -> AuditEntry:
    error = f"{dropped} audit entries were dropped: the queue was full"
    params = {"dropped": dropped}
    return AuditEntry(
        time.time(), "internal", "procward", "daemon", "audit.dropped", params, "error", error, 0.0
    )
