"""Hypothesis strategies for hostile JSON-RPC frames and HTTP requests.

The method names and their parameter names come from the daemon's own
``@method`` declarations, so a new method is fuzzed without editing this
file. What an admin on the Unix socket may send is constrained where a
random call would do real harm or never answer: ``shutdown`` and
``upgrade`` end or replace the daemon, ``exec`` runs a command, the
streams (``followLogs``, ``followEvents``) never answer, ``setNetwork``
would move the listeners under test; ``loadConfig`` gets paths that do not
exist (or cannot be paths), ``addApp`` only harmless commands, ``scale`` at
most 4 instances. Anonymous peers (TCP, HTTP) may send anything: the
daemon must refuse it.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from procward.daemon.service import RPC_PARTS, ProcwardDaemon
from procward.kit._rpc import Role

SURROGATES = ["\ud800", "\udfff", "a\udc80b"]
NAMES = ["srv", "all", "nope", "fz1", "fz2", ""]
ADMIN_EXCLUDED = {"shutdown", "upgrade", "exec", "followLogs", "followEvents", "setNetwork"}


@dataclass(frozen=True)
class Declared:
    name: str
    role: Role
    stream: bool
    params: tuple[str, ...]


def declared_methods() -> list[Declared]:
    """Every RPC method of the daemon, with its role and parameter names."""
    found = []
    for cls, attr in ((c, a) for c in (ProcwardDaemon, *RPC_PARTS) for a in dir(c)):
        func = getattr(cls, attr, None)
        rpc = getattr(func, "__rpc__", None)
        if rpc is None:
            continue
        name, role, stream, _result = rpc
        params = tuple(inspect.signature(func).parameters)[2:]  # after self, ctx
        found.append(Declared(name, role, stream, params))
    return sorted(found, key=lambda d: d.name)


METHODS = declared_methods()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),  # NaN and infinities included
    st.text(max_size=40),
    st.sampled_from(SURROGATES + NAMES),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def params_for(draw: st.DrawFn, method: Declared | None, admin: bool) -> Any:
    names = method.params if method else ()
    shape = draw(st.sampled_from(["named", "named", "positional", "scalar", "empty"]))
    if shape == "scalar":
        return draw(values)
    if shape == "empty":
        return draw(st.sampled_from([{}, []]))
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    params = {key: draw(value_for(key)) for key in chosen}
    if draw(st.booleans()):
        params.update(draw(st.dictionaries(st.text(max_size=8), values, max_size=2)))
    if admin and method is not None:
        params = constrain(method.name, params, draw)
    if shape == "positional":
        return list(params.values())
    return params


def value_for(key: str) -> st.SearchStrategy[Any]:
    """Plausible values for a parameter, mixed with anything at all."""
    if key in ("name", "app", "instance"):
        return st.sampled_from(NAMES) | values
    if key in ("lines", "limit", "instances", "since", "timeout", "index"):
        return st.integers() | st.floats() | values
    return values


def constrain(name: str, params: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Keep an admin's random call from harming the machine or hanging the test."""
    if name == "loadConfig":
        tail = draw(st.text(max_size=20) | st.sampled_from(["\0", *SURROGATES]))
        params["path"] = "/nonexistent-procward-fuzz/" + tail
    if name == "addApp":
        params["name"] = draw(st.sampled_from(["fz1", "fz2", "", "a b", *SURROGATES]))
        spec = params.get("spec") if isinstance(params.get("spec"), dict) else {}
        cmd = draw(
            st.sampled_from(
                [["sleep", "1000"], ["true"], [], ["/nonexistent/x"], "sleep 1000", *SURROGATES]
            )
            | st.lists(st.sampled_from(["/nonexistent/y", "\ud800", "\0"]), max_size=2)
        )
        params["spec"] = {**spec, "cmd": cmd} if draw(st.booleans()) else {"cmd": cmd}
    if name == "scale" and isinstance(params.get("instances"), int):
        params["instances"] = min(params["instances"], 4)
    if name == "createToken" and "ttl" in params and draw(st.booleans()):
        params["ttl"] = draw(st.sampled_from(["1s", "0s", "-1s", "1000000d", "x"]))
    return params


@st.composite
def request_frame(draw: st.DrawFn, admin: bool, frame_id: int) -> tuple[bytes, bool]:
    """One request line; with whether it must get a reply carrying ``frame_id``."""
    pool = [m for m in METHODS if not (admin and m.name in ADMIN_EXCLUDED)]
    method = draw(st.sampled_from(pool) | st.none())
    name = method.name if method else draw(st.text(max_size=30) | st.sampled_from(SURROGATES))
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": frame_id, "method": name}
    msg["params"] = draw(params_for(method, admin))
    if draw(st.integers(0, 9)) == 0:  # break the envelope
        key = draw(st.sampled_from(["jsonrpc", "method", "id"]))
        msg[key] = draw(values)
    encoding = draw(st.sampled_from(["ascii", "ascii", "raw"]))
    try:
        # "raw": lone surrogates as bytes, which is not UTF-8
        data = json.dumps(msg, ensure_ascii=encoding == "ascii").encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        return b'{"jsonrpc": "2.0", "id": %d, "method": "ping"}' % frame_id, True
    replied = type(msg["id"]) is int and msg["id"] == frame_id and encoding == "ascii"
    return data, replied


@st.composite
def frame(draw: st.DrawFn, admin: bool, frame_id: int) -> tuple[bytes | Big, bool]:
    kind = draw(st.sampled_from(["request"] * 6 + ["bytes", "json", "deep", "huge"]))
    if kind == "request":
        return draw(request_frame(admin, frame_id))
    if kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" "), False
    if kind == "json":
        return json.dumps(draw(values)).encode(), False
    if kind == "deep":
        return Big("deep", draw(st.sampled_from([1000, 100_000, 400_000])), frame_id), False
    return Big("huge", draw(st.sampled_from([1 << 20, (1 << 20) + 1, 2 << 20])), frame_id), False


@dataclass(frozen=True)
class Big:
    """A frame too big to keep in an example (hypothesis would print it): built when sent."""

    kind: str  # "deep": params nested ``size`` deep; "huge": a method name of ``size`` bytes
    size: int
    frame_id: int

    def __bytes__(self) -> bytes:
        if self.kind == "deep":
            head = f'{{"jsonrpc": "2.0", "id": {self.frame_id}, "method": "status", "params": '
            return (head + deep(self.size) + "}").encode()
        return b'{"jsonrpc": "2.0", "method": "' + b"x" * self.size + b'"}'


@st.composite
def frames(draw: st.DrawFn, admin: bool) -> list[tuple[bytes | Big, bool, int]]:
    """A few frames for one connection, each with its id and whether it must be answered."""
    count = draw(st.integers(1, 3))
    out = []
    for frame_id in range(1, count + 1):
        data, replied = draw(frame(admin, frame_id))
        out.append((data, replied, frame_id))
    return out


@st.composite
def http_request(draw: st.DrawFn) -> tuple[bytes, bytes | Big, str]:
    """One anonymous HTTP request (``Connection: close``): its head, its body and its path."""
    verb = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "G\x01T"]))
    path = draw(
        st.sampled_from(["/rpc", "/ping", "/metrics", "/health", "/", "*", "/rpc?x=1"])
        | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
            lambda p: "/" + p
        )
    )
    body: bytes | Big = b""
    if draw(st.booleans()):
        body = draw(frame(admin=False, frame_id=1))[0]
    size = len(bytes(body)) if isinstance(body, bytes) else body.size
    headers = [("Host", "127.0.0.1"), ("Connection", "close")]
    if draw(st.booleans()):
        headers.append(("Authorization", "Bearer " + draw(forged_token())))
    extra = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
    headers += draw(st.lists(st.tuples(extra, extra), max_size=3))
    length = draw(st.sampled_from([size, size, 0, size + 5, -1]))
    if size or length:
        headers.append(("Content-Length", str(length)))
    head = f"{verb} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1", "replace") + b"\r\n", body, path


@st.composite
def forged_token(draw: st.DrawFn) -> str:
    """Tokens no key signed: junk, JWT-shaped junk, an unsigned ("none") JWT."""
    part = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_"), max_size=40)
    return draw(
        st.sampled_from(
            [
                "",
                "eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.",  # alg none, role admin
                "a.b.c",
            ]
        )
        | st.builds(lambda a, b, c: f"{a}.{b}.{c}", part, part, part)
        | part
    )


def _request(method: str, params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


# Inputs known to have reached -32603 (issue 11, items 11 and 15): every run sends them.
KNOWN_HOSTILE = [
    _request("loadConfig", {"path": "/nonexistent-procward-fuzz/\0"}),
    _request("loadConfig", {"path": "/nonexistent-procward-fuzz/\ud800"}),
    _request("getAudit", {"since": 10**400}),
    _request("stopApp", {"name": "srv", "timeout": float("nan")}),
    _request("authenticate", {"token": "\ud800"}),
    _request("addApp", {"name": "fz1", "spec": {"cmd": ["\ud800"]}}),
    _request("addApp", {"name": "fz2", "spec": {"cmd": "\udfff"}}),
]
