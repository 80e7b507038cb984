"""The error hierarchy and its one-to-one mapping to JSON-RPC codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit import _errors as errors
from procward.kit._errors import (
    AlreadyRunning,
    Conflict,
    CorruptFile,
    DaemonError,
    Forbidden,
    InternalError,
    InvalidParams,
    InvalidRequest,
    KitError,
    MethodNotFound,
    NotFound,
    NotRunning,
    NotSaved,
    ParseError,
    RpcError,
    ShuttingDown,
    StartFailed,
    Timeout,
    Unauthorized,
    UnsafeDirectory,
)

CODES: dict[type[RpcError], int] = {
    ParseError: -32700,
    InvalidRequest: -32600,
    MethodNotFound: -32601,
    InvalidParams: -32602,
    InternalError: -32603,
    Unauthorized: -32001,
    Forbidden: -32002,
    NotFound: -32003,
    Conflict: -32004,
    Timeout: -32005,
    ShuttingDown: -32006,
    NotSaved: -32007,
}


def test_every_rpc_error_in_the_module_has_its_documented_code() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, RpcError) and obj is not RpcError
    }
    assert defined == set(CODES)
    assert {cls: cls.code for cls in CODES} == CODES
    assert len(set(CODES.values())) == len(CODES)


@pytest.mark.parametrize(("cls", "code"), CODES.items(), ids=lambda x: getattr(x, "__name__", x))
def test_from_code_gives_back_the_class_of_each_code(cls: type[RpcError], code: int) -> None:
    err = RpcError.from_code(code, "it broke", {"k": 1})
    assert type(err) is cls
    assert (err.code, err.message, err.data, str(err)) == (code, "it broke", {"k": 1}, "it broke")


@given(
    cls=st.sampled_from(list(CODES)),
    message=st.text(),
    data=st.none() | st.integers() | st.text() | st.dictionaries(st.text(), st.integers()),
)
def test_to_wire_then_from_code_round_trips(
    cls: type[RpcError], message: str, data: object
) -> None:
    body = cls(message, data).to_wire()
    back = RpcError.from_code(body["code"], body["message"], body.get("data"))
    assert type(back) is cls
    assert (back.message, back.data) == (message, data)


def test_an_unknown_code_keeps_its_code_on_a_plain_rpc_error() -> None:
    err = RpcError.from_code(-31999, "custom", [1])
    assert type(err) is RpcError
    assert err.code == -31999
    assert err.to_wire() == {"code": -31999, "message": "custom", "data": [1]}
    assert RpcError.code == -32603  # the class default is untouched


def test_to_wire_omits_absent_data_but_keeps_falsy_data() -> None:
    assert NotFound("no such job").to_wire() == {"code": -32003, "message": "no such job"}
    assert Conflict("c", 0).to_wire() == {"code": -32004, "message": "c", "data": 0}


def test_a_subclass_without_its_own_code_does_not_take_over_its_parents_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(errors, "_BY_CODE", dict(errors._BY_CODE))  # undo the registration

    class JobNotFound(NotFound):
        pass

    assert type(RpcError.from_code(-32003, "gone")) is NotFound


def test_every_kit_error_is_a_kit_error() -> None:
    for cls in (*CODES, RpcError, DaemonError, UnsafeDirectory, CorruptFile):
        assert issubclass(cls, KitError)
    for cls in (AlreadyRunning, NotRunning, StartFailed):
        assert issubclass(cls, DaemonError)


def test_daemon_errors_explain_themselves() -> None:
    assert str(AlreadyRunning(42)) == "already running (pid 42)"
    assert AlreadyRunning(42).pid == 42
    assert str(AlreadyRunning(None)) == "already running"
    assert str(NotRunning()) == "daemon is not running"
    assert str(NotRunning("worker")) == "worker is not running"
    failed = StartFailed("port in use")
    assert (str(failed), failed.reason) == ("daemon failed to start: port in use", "port in use")
