"""JSON for the wire, through CPython's C accelerator without ``import json``.

``import json`` costs about 12 ms of a CLI's start-up here (it pulls in
``re`` and ``enum`` for its pure-Python fallbacks), while the C module that
does the actual work, ``_json``, costs nothing. The wire only ever needs
compact encoding and strict decoding, so this module builds the C scanner and
encoder itself and keeps ``json`` as the fallback (other interpreters, error
messages). Output is ASCII-only, so any str, lone surrogates included,
encodes to valid UTF-8 JSON. ``tests/kit/test_fastjson.py`` holds it to
``json``'s behaviour.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - not CPython
    _json = None  # type: ignore[assignment]

_SPACE = " \t\n\r"  # JSON whitespace (RFC 8259); str.strip() would take more


class _DecoderSettings:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    # float(), not `math`: that is one more shared library to load on a CLI's start-up.
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__


def _not_serialisable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


if _json is not None:
    _scan = _json.make_scanner(_DecoderSettings())  # type: ignore[arg-type]
    _encode = _json.make_encoder(
        {}, _not_serialisable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    quote = _json.encode_basestring_ascii

    def loads(data: str | bytes) -> Any:
        """Decode one JSON document; ``ValueError`` if it is not exactly that."""
        text = data.decode() if isinstance(data, bytes | bytearray) else data
        start = len(text) - len(text.lstrip(_SPACE))
        try:
            value, end = _scan(text, start)
        except StopIteration:
            return _slow_loads(text)
        if end != len(text) and text[end:].strip(_SPACE):
            return _slow_loads(text)
        return value

    def dumps(value: Any) -> str:
        """Compact, ASCII-only JSON."""
        return "".join(_encode(value, 0))

else:  # pragma: no cover

    def loads(data: str | bytes) -> Any:
        return _slow_loads(data)

    def dumps(value: Any) -> str:
        import json

        return json.dumps(value, separators=(",", ":"))

    def quote(text: str) -> str:
        return dumps(text)


def _slow_loads(data: str | bytes) -> Any:
    """``json.loads``, for its precise error messages (imported only on errors)."""
    import json

    return json.loads(data)
