"""JSON-RPC 2.0 over newline-delimited JSON: the frame codec, with no I/O.

One UTF-8 JSON object per line. ``FrameDecoder`` splits a byte stream into
lines and enforces the frame-size limit without ever buffering more than the
limit: an oversized frame is reported once and skipped up to its newline, and
the connection stays usable. ``parse_request`` turns one line into a
``Request`` or raises the ``RpcError`` that the peer must receive.

This module is on the CLI's import path: it uses ``fastjson`` (not ``json``)
and the kit's errors, nothing else.
"""

from __future__ import annotations

from procward.kit import _fastjson as fastjson
from procward.kit._errors import InvalidRequest, ParseError, RpcError

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any

MAX_FRAME = 1 << 20  # 1 MiB
VERSION = "2.0"

_dumps = fastjson.dumps
_loads = fastjson.loads


class Oversized:
    """Marker yielded by ``FrameDecoder`` in place of a frame over the limit."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class FrameDecoder:
    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skipping = False  # inside an oversized frame, dropping bytes to its end

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        if (
            not self._buf
            and not self._skipping
            and data.endswith(b"\n")
            and data.count(b"\n") == 1
            and 1 < len(data) <= self.max_frame
        ):
            return [data[:-1]]  # the common case: exactly one whole frame arrived
        frames: list[bytes | Oversized] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif end - start > self.max_frame:
                frames.append(Oversized(end - start))
            elif end > start:
                frames.append(bytes(buf[start:end]))
            start = end + 1
        del buf[:start]
        if len(buf) > self.max_frame:
            if not self._skipping:
                frames.append(Oversized(len(buf)))
                self._skipping = True
            buf.clear()
        return frames

    def finish(self) -> list[bytes | Oversized]:
        """At the end of input: the last frame, if the peer sent it without a newline."""
        frame = bytes(self._buf)
        self._buf.clear()
        if self._skipping or not frame.strip():
            return []  # an oversized frame was reported when it began
        return [frame]

    @property
    def pending(self) -> int:
        return len(self._buf)


class Request:
    # Plain slots class: `dataclasses` is too costly to import on the CLI path.
    __slots__ = ("id", "method", "notification", "params")

    def __init__(
        self,
        method: str,
        params: dict[str, Any] | list[Any],
        id: int | str | None,
        notification: bool,  # no "id": the caller wants no answer
    ) -> None:
        self.method = method
        self.params = params
        self.id = id
        self.notification = notification


def parse_request(frame: bytes) -> Request:
    try:
        msg = _loads(frame)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise ParseError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    if not isinstance(msg, dict):
        raise InvalidRequest("a request must be a JSON object (batches are not supported)")
    req_id = msg.get("id")
    if req_id is not None and (not isinstance(req_id, int | str) or isinstance(req_id, bool)):
        raise InvalidRequest('"id" must be a string, a number or null')
    if msg.get("jsonrpc") != VERSION:
        raise InvalidRequest('"jsonrpc" must be "2.0"', {"id": req_id})
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequest('"method" must be a non-empty string', {"id": req_id})
    params = msg.get("params", {})
    if not isinstance(params, dict | list):
        raise InvalidRequest('"params" must be an object or an array', {"id": req_id})
    return Request(method, params, req_id, "id" not in msg)


def excerpt(text: str, limit: int = 100) -> str:
    """``text`` quoted for an error message, cut at ``limit`` characters.

    Errors may quote what a peer sent (an unknown method's name), never all
    of it: a 1 MiB name must not come back as a 1 MiB error.
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def request_id_of(err: RpcError) -> Any:
    """The id a failed parse could still recover, for the error reply."""
    return err.data.get("id") if isinstance(err.data, dict) else None


# Replies and requests are assembled around one json call for the payload: a
# ping round trip is a few microseconds of Python, and a dict built only to be
# encoded cost a good part of them.
_quote = fastjson.quote


def _id_json(req_id: Any) -> str:
    if type(req_id) is int:
        return str(req_id)
    return "null" if req_id is None else _quote(str(req_id))


def encode_request(method: str, params: dict[str, Any] | list[Any] | None, req_id: int) -> bytes:
    text = f'{{"jsonrpc":"2.0","id":{req_id},"method":{_quote(method)}'
    if params:
        text += ',"params":' + _dumps(params)
    return (text + "}\n").encode()  # ASCII: fastjson escapes everything else


def encode_result(req_id: Any, result: Any) -> bytes:
    text = f'{{"jsonrpc":"2.0","id":{_id_json(req_id)},"result":{_dumps(result)}}}\n'
    return text.encode()


def encode_error(req_id: Any, err: RpcError) -> bytes:
    body = err.to_wire()
    if isinstance(err, InvalidRequest) and isinstance(err.data, dict):
        body.pop("data", None)  # the recovered id was for us, not for the peer
    return _dumps({"jsonrpc": VERSION, "id": req_id, "error": body}).encode() + b"\n"


def encode_notification(method: str, params: Any) -> bytes:
    return f'{{"jsonrpc":"2.0","method":{_quote(method)},"params":{_dumps(params)}}}\n'.encode()


def decode_message(frame: bytes) -> dict[str, Any]:
    """Decode a reply or notification received by a client."""
    try:
        msg = _loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"the daemon sent invalid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ParseError("reply is not a JSON object")
    return msg
