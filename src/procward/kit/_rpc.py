"""Methods, roles and dispatch: what the server calls, independent of transport.

A daemon declares its methods with ``@method(role=...)``. Each handler takes
the ``CallContext`` first and its JSON-RPC params as keyword (or positional)
arguments. Params are checked against the handler's signature and simple type
hints before the handler runs, so a handler never sees a wrong type and a
caller always gets ``InvalidParams`` naming the parameter.

Roles are ordered: a caller may call a method when its role is at least the
method's. The transport decides the caller's role (Unix peer credentials,
a JWT on TCP); this module only compares.
"""

from __future__ import annotations

import enum
import inspect
import math
import types
import typing
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, Union

from procward.kit._errors import (
    Forbidden,
    InvalidParams,
    MethodNotFound,
    RpcError,
    Unauthorized,
)
from procward.kit._structs import Struct, field
from procward.kit._wire import excerpt


class Role(enum.IntEnum):
    ANONYMOUS = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            known = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown role {excerpt(name)} (known: {known})") from None


class Peer(Struct):
    """Who is on the other end of a connection."""

    transport: str  # "unix" or "tcp"
    role: Role
    uid: int | None = None
    pid: int | None = None
    subject: str | None = None  # a token's "sub" on the network
    address: str | None = None  # "host:port" of a network peer
    expires: float | None = None  # unix time when a token's role ends
    token_id: str | None = None  # the token's id (jti): revoking it ends this session


Notify = Callable[[str, Any], Awaitable[None]]

# (peer, method, params, started (unix time), seconds, error or None), for an audit log
Auditor = Callable[[Peer, str, Any, float, float, "RpcError | None"], None]


class CallContext(Struct, frozen=False):
    peer: Peer
    notify: Notify  # send a notification on this connection, waiting for room to write
    extra: dict[str, Any] = field(default_factory=dict)
    # Give the connection another identity (a network client that authenticated).
    set_peer: Callable[[Peer], None] | None = None
    close: Callable[[], None] | None = None  # end the connection after this reply
    can_stream: bool = True  # False over HTTP: no notifications there


Handler = Callable[..., Any]


class Method(Struct):
    name: str
    handler: Handler
    role: Role
    is_async: bool
    context: str  # the name of the handler's first (CallContext) parameter
    names: tuple[str, ...]  # parameters after ctx, in order
    required: frozenset[str]
    open_keywords: bool  # the handler takes **kwargs
    checks: dict[str, tuple[type, ...]]  # param name -> accepted runtime types
    stream: bool = False  # runs until the client hangs up: cancelled at once at shutdown
    # The name of the record its reply is ("AppsChanged", "list[Event]"), as the daemon
    # declares it: the kit only keeps it, for a daemon's documentation and tests.
    result: str | None = None

    def bind(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        """Check ``params`` against the handler; the keyword arguments to call it with.

        Hand-rolled rather than ``inspect.Signature.bind``: this runs on every
        request, and the generic binder costs more than the rest of a ping.
        """
        if isinstance(params, list):
            if len(params) > len(self.names):
                raise InvalidParams(
                    f"{self.name}: takes at most {len(self.names)} parameters, got {len(params)}"
                )
            params = dict(zip(self.names, params, strict=False))
        elif not self.open_keywords and not params.keys() <= set(self.names):
            unknown = ", ".join(sorted(params.keys() - set(self.names)))
            raise InvalidParams(f"{self.name}: unexpected parameter {unknown[:100]}")
        if self.context in params:
            raise InvalidParams(f"{self.name}: unexpected parameter {self.context}")
        if not self.required <= params.keys():
            missing = ", ".join(sorted(self.required - params.keys()))
            raise InvalidParams(f"{self.name}: missing required parameter {missing}")
        checks = self.checks
        for key, value in params.items():
            accepted = checks.get(key)
            if accepted is not None and not _is_instance(value, accepted):
                want = " or ".join(_type_name(t) for t in accepted)
                raise InvalidParams(
                    f"{self.name}: parameter {key!r} must be {want}, not {_type_name(type(value))}"
                )
            if accepted is not None and (why := unfit_value(value)) is not None:
                raise InvalidParams(f"{self.name}: parameter {key!r} {why}")
        return params


LARGEST_INT = 2**63 - 1  # beyond it no count, index or time of ours means anything


def unfit_value(value: object) -> str | None:
    """Why a well-typed JSON value still cannot be used, or None.

    NaN and infinities (Python's JSON reads ``NaN`` and ``1e400``), integers
    past 64 bits, and text with NUL or a lone surrogate (``"\\ud800"``): none
    can be a duration, a count, a path, an argument or a line of a log file,
    and each made some handler fail with a traceback instead of an answer.
    """
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {value}"
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -LARGEST_INT <= value <= LARGEST_INT else "is out of range"
    if isinstance(value, str):
        return unfit_text(value)
    if isinstance(value, list):  # of names or arguments: each must be usable too
        return next((f"item {i} {why}" for i, v in enumerate(value) if (why := _unfit(v))), None)
    return None


def _unfit(item: object) -> str | None:
    return unfit_text(item) if isinstance(item, str) else None


def unfit_text(text: str) -> str | None:
    """Why ``text`` cannot go to a file, a path or an exec (NUL, lone surrogate), or None."""
    if "\0" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode text (a lone surrogate at position {exc.start})"
    return None


def _is_instance(value: Any, accepted: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in accepted:
        return False  # JSON true is not a number
    if isinstance(value, int) and float in accepted:
        return True
    return isinstance(value, accepted)


def _type_name(tp: type) -> str:
    return {type(None): "null", dict: "object", list: "array", str: "string"}.get(tp, tp.__name__)


_RUNTIME = {str, int, float, bool, list, dict, type(None)}


def _runtime_types(hint: Any) -> tuple[type, ...] | None:
    """Map a type hint to the JSON types it accepts; None means unchecked."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(hint):
            sub = _runtime_types(arg)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(out)
    base = origin or hint
    if base is None:
        return (type(None),)
    if base in _RUNTIME:
        return (base,)
    return None


F = TypeVar("F", bound=Handler)


def _param_hints(handler: Handler, names: list[str]) -> dict[str, Any]:
    """Evaluated type hints of the named parameters, skipping those that cannot be.

    Not ``typing.get_type_hints``: it evaluates every annotation, so one name
    imported only under ``TYPE_CHECKING`` (the context's type, say) would make
    the whole daemon fail to build. Such a parameter is simply not checked.
    """
    func = getattr(handler, "__func__", handler)
    raw = inspect.get_annotations(func)
    scope = getattr(func, "__globals__", {})
    hints: dict[str, Any] = {}
    for name in names:
        annotation = raw.get(name)
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, scope)
            except Exception:
                continue
        if annotation is not None:
            hints[name] = annotation
    return hints


def method(
    role: Role = Role.ADMIN,
    name: str | None = None,
    *,
    stream: bool = False,
    result: str | None = None,
) -> Callable[[F], F]:
    """Mark a function or daemon method as an RPC method (admin unless stated).

    ``stream``: it sends notifications until the client hangs up (``logs -f``),
    so a shutdown or an upgrade cancels it at once instead of waiting for it.
    ``result``: the name of the record its reply is (``"AppsChanged"``, or
    ``"list[Event]"``); the kit only keeps it on the ``Method``, for the
    daemon's docs and tests. A name, not the class: a daemon need not import
    the records its clients decode with.
    """

    def mark(func: F) -> F:
        func.__rpc__ = (name or func.__name__, role, stream, result)  # type: ignore[attr-defined]
        return func

    return mark


class TokenHints(Struct):
    """How a daemon's users get, list and revoke tokens (its CLI's words), for error messages.

    Empty by default: the kit names no command of its own.
    """

    create: str = ""  # "procward token create"
    listing: str = ""  # "procward token list"
    revoke: str = ""  # "procward token revoke ID"

    def authenticate_first(self) -> str:
        return "authenticate with a token first" + (f" ({self.create})" if self.create else "")


class Registry:
    def __init__(self, hints: TokenHints | None = None) -> None:
        self._methods: dict[str, Method] = {}
        self.hints = hints or TokenHints()

    def add(
        self,
        handler: Handler,
        role: Role,
        name: str | None = None,
        *,
        stream: bool = False,
        result: str | None = None,
    ) -> Method:
        name = name or handler.__name__
        if name in self._methods:
            raise ValueError(f"method {name!r} is registered twice")
        context, *params = inspect.signature(handler).parameters.values()
        hints = _param_hints(handler, [p.name for p in params])
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        checks = {
            p.name: accepted
            for p in named
            if p.name in hints and (accepted := _runtime_types(hints[p.name])) is not None
        }
        entry = Method(
            name=name,
            handler=handler,
            role=role,
            is_async=inspect.iscoroutinefunction(handler),
            context=context.name,
            names=tuple(p.name for p in named),
            required=frozenset(p.name for p in named if p.default is p.empty),
            open_keywords=any(p.kind is p.VAR_KEYWORD for p in params),
            checks=checks,
            stream=stream,
            result=result,
        )
        self._methods[name] = entry
        return entry

    def collect(self, obj: object) -> None:
        """Register every ``@method``-marked attribute of ``obj`` (bound)."""
        for attr in dir(type(obj)):
            marked = getattr(getattr(type(obj), attr, None), "__rpc__", None)
            if marked is not None:
                name, role, stream, result = marked
                self.add(getattr(obj, attr), role, name, stream=stream, result=result)

    def parameter_names(self, name: str) -> tuple[str, ...] | None:
        """The parameters of method ``name`` in order (for positional params); None if unknown."""
        entry = self._methods.get(name)
        return None if entry is None else entry.names

    def audited(self, entry: Method | None, error: RpcError | None) -> bool:
        """Is this call one for the audit log: a change, a login, or a refusal?"""
        if isinstance(error, Forbidden | Unauthorized):
            return True
        return entry is not None and (entry.role >= Role.OPERATOR or entry.name == "authenticate")

    def lookup(self, name: str, peer: Peer) -> Method:
        entry = self._methods.get(name)
        if entry is None:
            raise MethodNotFound(f"unknown method {excerpt(name)}")
        if peer.role < entry.role and peer.role is Role.ANONYMOUS:
            raise Unauthorized(
                f"{name} needs the {entry.role.name.lower()} role: "
                f"{self.hints.authenticate_first()}"
            )
        if peer.role < entry.role:
            raise Forbidden(
                f"{name} needs the {entry.role.name.lower()} role; "
                f"this connection has {peer.role.name.lower()}"
            )
        return entry

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())

    def __contains__(self, name: str) -> bool:
        return name in self._methods
