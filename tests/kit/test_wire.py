"""The newline-delimited JSON-RPC codec: framing, request validation, round trips."""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit._errors import InvalidParams, InvalidRequest, ParseError, RpcError
from procward.kit._wire import (
    MAX_FRAME,
    FrameDecoder,
    Oversized,
    decode_message,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
    excerpt,
    parse_request,
    request_id_of,
)

LIMIT = 32  # a small frame limit keeps the property tests fast and the edges reachable


def decode_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[bytes | Oversized]:
    out: list[bytes | Oversized] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
        assert decoder.pending <= decoder.max_frame
    return out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, duplicates allowed)."""
    bounds = [0, *sorted(p % (len(data) + 1) for p in points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def shape(frames: list[bytes | Oversized]) -> list[bytes | str]:
    """Frames with each Oversized marker replaced by a comparable token."""
    return ["<oversized>" if isinstance(f, Oversized) else f for f in frames]


no_newline = st.binary(max_size=LIMIT).map(lambda b: b.replace(b"\n", b"x"))
oversized_frame = st.binary(min_size=LIMIT + 1, max_size=4 * LIMIT).map(
    lambda b: b.replace(b"\n", b"x")
)


# -- FrameDecoder -------------------------------------------------------------


@given(frames=st.lists(no_newline, max_size=12), points=st.lists(st.integers(0, 10_000)))
def test_frames_survive_any_chunking(frames: list[bytes], points: list[int]) -> None:
    stream = b"".join(f + b"\n" for f in frames)
    out = decode_all(FrameDecoder(LIMIT), cut(stream, points))
    assert out == [f for f in frames if f]  # empty lines carry nothing and are skipped


@given(
    frames=st.lists(st.one_of(no_newline, oversized_frame), max_size=10),
    points=st.lists(st.integers(0, 10_000), max_size=30),
)
def test_each_oversized_frame_is_reported_once_and_the_rest_still_decode(
    frames: list[bytes], points: list[int]
) -> None:
    stream = b"".join(f + b"\n" for f in frames)
    out = decode_all(FrameDecoder(LIMIT), cut(stream, points))
    expected = ["<oversized>" if len(f) > LIMIT else f for f in frames if f]
    assert shape(out) == expected
    assert all(f.size > LIMIT for f in out if isinstance(f, Oversized))


def test_a_frame_exactly_at_the_limit_passes() -> None:
    decoder = FrameDecoder(LIMIT)
    frame = b"a" * LIMIT
    assert decoder.feed(frame) == []  # buffered, not yet judged
    assert decoder.feed(b"\n") == [frame]


def test_a_frame_one_byte_over_the_limit_is_oversized() -> None:
    out = FrameDecoder(LIMIT).feed(b"a" * (LIMIT + 1) + b"\nok\n")
    assert shape(out) == ["<oversized>", b"ok"]
    assert isinstance(out[0], Oversized)
    assert out[0].size == LIMIT + 1


def test_an_oversized_frame_fed_byte_by_byte_is_reported_once_and_never_buffered() -> None:
    decoder = FrameDecoder(LIMIT)
    out: list[bytes | Oversized] = []
    for byte in b"z" * (10 * LIMIT) + b"\nnext\n":
        out.extend(decoder.feed(bytes([byte])))
        assert decoder.pending <= LIMIT
    assert shape(out) == ["<oversized>", b"next"]


def test_pending_counts_the_unterminated_tail() -> None:
    decoder = FrameDecoder()
    assert decoder.max_frame == MAX_FRAME
    assert decoder.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert decoder.pending == 4


# -- parse_request -------------------------------------------------------------


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("req_id", [1, 0, -7, "abc", ""])
def test_a_valid_request_parses(req_id: int | str) -> None:
    req = parse_request(frame(jsonrpc="2.0", id=req_id, method="ping", params={"x": 1}))
    assert (req.method, req.params, req.id, req.notification) == ("ping", {"x": 1}, req_id, False)


def test_params_default_to_an_empty_object_and_may_be_an_array() -> None:
    assert parse_request(frame(jsonrpc="2.0", id=1, method="m")).params == {}
    assert parse_request(frame(jsonrpc="2.0", id=1, method="m", params=[1, "a"])).params == [1, "a"]


def test_a_request_without_id_is_a_notification() -> None:
    req = parse_request(frame(jsonrpc="2.0", method="tick"))
    assert req.notification
    assert req.id is None


def test_a_null_id_is_a_request_not_a_notification() -> None:
    req = parse_request(frame(jsonrpc="2.0", id=None, method="m"))
    assert not req.notification
    assert req.id is None


@pytest.mark.parametrize("version", [None, "1.0", 2.0, "2"])
def test_a_missing_or_wrong_jsonrpc_version_is_refused_keeping_the_id(version: object) -> None:
    fields: dict[str, object] = {"id": 5, "method": "m"}
    if version is not None:
        fields["jsonrpc"] = version
    with pytest.raises(InvalidRequest, match="jsonrpc") as info:
        parse_request(frame(**fields))
    assert request_id_of(info.value) == 5


@pytest.mark.parametrize("req_id", [True, False, 1.5, [1], {"a": 1}])
def test_an_id_that_is_not_a_string_integer_or_null_is_refused(req_id: object) -> None:
    with pytest.raises(InvalidRequest, match='"id"') as info:
        parse_request(frame(jsonrpc="2.0", id=req_id, method="m"))
    assert request_id_of(info.value) is None


@pytest.mark.parametrize("method", [None, "", 3, ["m"]])
def test_method_must_be_a_non_empty_string(method: object) -> None:
    fields: dict[str, object] = {"jsonrpc": "2.0", "id": "r"}
    if method is not None:
        fields["method"] = method
    with pytest.raises(InvalidRequest, match="method") as info:
        parse_request(frame(**fields))
    assert request_id_of(info.value) == "r"


@pytest.mark.parametrize("params", [None, 1, "a", True])
def test_params_of_the_wrong_type_are_refused(params: object) -> None:
    with pytest.raises(InvalidRequest, match="params"):
        parse_request(frame(jsonrpc="2.0", id=1, method="m", params=params))


@pytest.mark.parametrize("raw", [b"1", b'"str"', b"null", b"true"])
def test_a_json_value_that_is_not_an_object_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidRequest, match="object"):
        parse_request(raw)


def test_a_batch_is_refused_as_unsupported() -> None:
    batch = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "m"}]).encode()
    with pytest.raises(InvalidRequest, match="batch"):
        parse_request(batch)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"{'a': 1}", b'{"jsonrpc": "2.0",}', b'{"method": "\xff\xfe"}', b"\xc3\x28"],
)
def test_invalid_json_or_utf8_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_request(raw)


@pytest.mark.parametrize("tail", ["\u00a0", "\x0b", "\x1f", "\u2028"])
def test_trailing_characters_that_are_not_json_whitespace_are_a_parse_error(tail: str) -> None:
    with pytest.raises(ParseError):
        parse_request(frame(jsonrpc="2.0", id=1, method="m") + tail.encode())


@pytest.mark.parametrize("tail", [b" ", b"\t", b"\r", b"  \r"])
def test_trailing_json_whitespace_is_allowed(tail: bytes) -> None:
    assert parse_request(frame(jsonrpc="2.0", id=1, method="m") + tail).method == "m"


def test_deeply_nested_json_within_the_frame_limit_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_request(b"[" * 100_000)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_request_or_an_rpc_error(raw: bytes) -> None:
    with contextlib.suppress(RpcError):
        parse_request(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0"]) | json_values,
        "id": json_values,
        "method": st.text(max_size=5) | json_values,
        "params": json_values,
    },
)


@given(request_like)
def test_request_shaped_objects_give_a_request_or_invalid_request(msg: dict[str, object]) -> None:
    try:
        req = parse_request(json.dumps(msg).encode())
    except InvalidRequest:
        return
    assert req.method == msg["method"]
    assert req.notification == ("id" not in msg)


# -- encoding ------------------------------------------------------------------

# Lone surrogates cannot be encoded as UTF-8 (ensure_ascii is off), so leave them out.
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
params_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)


def one_frame(data: bytes) -> bytes:
    """The single frame in ``data``, checked to be exactly one newline-terminated line."""
    frames = FrameDecoder().feed(data)
    assert data.endswith(b"\n")
    assert len(frames) == 1
    assert isinstance(frames[0], bytes)
    return frames[0]


@given(
    method=text.filter(bool),
    params=st.dictionaries(text, params_values, min_size=1, max_size=4),
    req_id=st.integers(min_value=0),
)
def test_encode_request_round_trips_through_parse_request(
    method: str, params: dict[str, object], req_id: int
) -> None:
    req = parse_request(one_frame(encode_request(method, params, req_id)))
    assert (req.method, req.params, req.id, req.notification) == (method, params, req_id, False)


@pytest.mark.parametrize("params", [None, {}])
def test_encode_request_omits_empty_params(params: dict[str, object] | None) -> None:
    raw = one_frame(encode_request("ping", params, 3))
    assert "params" not in json.loads(raw)
    assert parse_request(raw).params == {}


def test_encode_request_keeps_positional_params() -> None:
    assert parse_request(one_frame(encode_request("m", [1, "a"], 1))).params == [1, "a"]


@given(req_id=st.one_of(st.none(), st.integers(), text), result=params_values)
def test_encode_result_round_trips_through_decode_message(req_id: object, result: object) -> None:
    msg = decode_message(one_frame(encode_result(req_id, result)))
    assert msg == {"jsonrpc": "2.0", "id": req_id, "result": result}


def test_encode_error_carries_code_message_and_data() -> None:
    err = InvalidParams("bad x", {"param": "x"})
    msg = decode_message(one_frame(encode_error(7, err)))
    assert msg == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32602, "message": "bad x", "data": {"param": "x"}},
    }


def test_encode_error_does_not_echo_the_recovered_id_of_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_request(frame(id=9, method="m"))
    msg = decode_message(one_frame(encode_error(request_id_of(info.value), info.value)))
    assert msg["id"] == 9
    assert msg["error"] == {"code": -32600, "message": '"jsonrpc" must be "2.0"'}


@given(method=text.filter(bool), params=params_values)
def test_encode_notification_parses_as_a_notification(method: str, params: object) -> None:
    raw = one_frame(encode_notification(method, params))
    try:
        req = parse_request(raw)
    except InvalidRequest:
        assert not isinstance(params, dict | list)  # only objects and arrays are params
        return
    assert (req.method, req.params, req.notification) == (method, params, True)


@pytest.mark.parametrize("raw", [b"[1]", b"3", b'"x"'])
def test_decode_message_refuses_non_objects(raw: bytes) -> None:
    with pytest.raises(ParseError):
        decode_message(raw)


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff"])
def test_decode_message_turns_invalid_json_into_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        decode_message(raw)


def test_the_last_frame_before_the_end_of_input_is_kept() -> None:
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert decoder.feed(b":2}") == []
    assert decoder.finish() == [b'{"b":2}']
    assert decoder.finish() == []  # once


def test_the_end_of_an_oversized_or_blank_frame_yields_nothing() -> None:
    decoder = FrameDecoder(LIMIT)
    assert [type(f) for f in decoder.feed(b"x" * (LIMIT + 5))] == [Oversized]
    assert decoder.finish() == []  # reported when it began
    assert FrameDecoder(LIMIT).finish() == []
    blank = FrameDecoder(LIMIT)
    blank.feed(b" \r")
    assert blank.finish() == []


def test_excerpts_of_peer_text_are_bounded() -> None:
    assert excerpt("ping") == "'ping'"
    long = excerpt("m" * (1 << 20))
    assert len(long) < 150 and long.endswith("... (1048576 characters)")
