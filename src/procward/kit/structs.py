"""``Struct``: small value classes at a fraction of a dataclass's memory.

    class Exited(Struct):
        code: int | None
        signal: int | None = None

is a slotted, frozen class with ``__init__`` (positional or keyword),
``__eq__``, ``__hash__`` and ``__repr__``, like ``@dataclass(frozen=True,
slots=True)``; ``class Child(Struct, frozen=False)`` makes a mutable one
(unhashable, as a dataclass with ``eq=True``). ``field(default_factory=dict)``
gives each instance its own default; ``replace(obj, **changes)`` copies
with changes, as ``dataclasses.replace``. Type checkers see dataclass
semantics through ``dataclass_transform`` (PEP 681).

Records that cross a boundary (a file, the wire, an exec) say "as a dict"
one way and "from a dict" one way: ``obj.as_dict()`` (nested structs, enums
by value, tuples as lists: JSON-ready) and ``Cls.from_dict(data)``, which
checks every field against its annotation and raises ``RecordError`` naming
the path of the first wrong one (``instances[2].pid: expected int, got
str``). Keys it does not know are ignored (a newer writer's additions);
a missing field takes its default or is an error.

Why not dataclasses (decision 0018): ``@dataclass`` compiles a new
``__init__``, ``__eq__``, ``__repr__`` and ``__hash__`` for every class with
``exec``, ~15 KB of memory each; the daemon has 30-odd such classes at start,
~0.5 MB plus 0.16 MB for the module, out of an RSS budget where supervisord
is the peer to beat. Here every class shares the same few functions; a
class costs its type object and slot descriptors. The generic ``__init__``
is slower than a generated one (~1 µs), which nothing hot pays: these are
made per state change, connection or config load, not per request.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, Union, dataclass_transform

T = TypeVar("T")
S = TypeVar("S", bound="Struct")
_NO_DEFAULT: Any = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Any) -> None:
        self.make = make


def field(*, default: Any = _NO_DEFAULT, default_factory: Any = None) -> Any:
    """A field's default: ``field(default_factory=dict)`` for a fresh one each time."""
    if default_factory is not None:
        return _Factory(default_factory)
    return default


class _StructMeta(type):
    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        ns: dict[str, Any],
        frozen: bool = True,
        eq: bool = True,
    ) -> _StructMeta:
        own = [
            key
            for key, hint in ns.get("__annotations__", {}).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))
        ]
        fields: tuple[str, ...] = ()
        defaults: dict[str, Any] = {}
        for base in bases:
            fields += getattr(base, "_fields", ())
            defaults |= getattr(base, "_defaults", {})
        for key in own:
            if key in ns:
                defaults[key] = ns.pop(key)  # a class attribute would clash with the slot
        ns["__slots__"] = tuple(own)
        ns["_fields"] = fields + tuple(own)
        ns["_defaults"] = defaults
        ns["_frozen"] = frozen
        ns["__match_args__"] = ns["_fields"]
        if not eq:  # identity, as ``@dataclass(eq=False)``: usable in sets
            ns["__eq__"] = object.__eq__
            ns["__hash__"] = object.__hash__
        elif not frozen:
            ns["__hash__"] = None
        if not frozen:
            ns["__setattr__"] = object.__setattr__
            ns["__delattr__"] = object.__delattr__
        return super().__new__(mcs, name, bases, ns)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Struct(metaclass=_StructMeta):
    __slots__ = ()
    if TYPE_CHECKING:
        _fields: ClassVar[tuple[str, ...]]
        _defaults: ClassVar[dict[str, Any]]
        _frozen: ClassVar[bool]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments")
        values = dict(zip(fields, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(f"{type(self).__name__}() got an unexpected argument {key!r}")
            if key in values:
                raise TypeError(f"{type(self).__name__}() got {key!r} twice")
            values[key] = value
        defaults = self._defaults
        for key in fields:
            if key in values:
                value = values[key]
            elif key in defaults:
                value = defaults[key]
                if type(value) is _Factory:
                    value = value.make()
            else:
                raise TypeError(f"{type(self).__name__}() is missing {key!r}")
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {key!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, key) for key in self._fields)

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values: nested structs as dicts, enums by value."""
        return {key: _plain(getattr(self, key)) for key in self._fields}

    @classmethod
    def from_dict(cls: type[S], data: object, where: str = "") -> S:
        """The record ``data`` holds, every field checked against its annotation."""
        if not isinstance(data, dict):
            raise RecordError(f"{where or cls.__name__}: expected an object, got {_kind(data)}")
        values = {}
        for key, decode, required in _fields_of(cls):
            if key in data:
                values[key] = decode(data[key], f"{where}.{key}" if where else key)
            elif required:
                raise RecordError(f"{f'{where}.{key}' if where else key}: missing")
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._fields)
        return f"{type(self).__name__}({shown})"


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the struct ``obj`` with ``changes``."""
    fields = obj._fields  # type: ignore[attr-defined]
    unknown = [key for key in changes if key not in fields]
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {unknown[0]!r}")
    return type(obj)(**{key: changes.get(key, getattr(obj, key)) for key in fields})


class RecordError(ValueError):
    """A dict that does not hold the record it should (``Struct.from_dict``)."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _plain(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.as_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


Decode = Callable[[Any, str], Any]
_FIELDS: dict[type, list[tuple[str, Decode, bool]]] = {}
_DECODERS: dict[Any, Decode] = {}


def _fields_of(cls: type[Struct]) -> list[tuple[str, Decode, bool]]:
    """Each field's name, its decoder and whether it is required: worked out once per class."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = _hints(cls)
        found = _FIELDS[cls] = [
            (key, _decoder(hints[key]), key not in cls._defaults) for key in cls._fields
        ]
    return found


def _decoder(hint: Any) -> Decode:
    """What ``_decode(hint, ...)`` does, with the hint's shape looked at once (status of
    500 apps is 10,000 fields: ``typing.get_origin`` on each was most of the time)."""
    try:
        found = _DECODERS.get(hint)
    except TypeError:  # an unhashable hint: decode the slow way
        return lambda value, where: _decode(hint, value, where)
    if found is not None:
        return found
    if hint is Any or hint is object:
        found = _keep
    elif hint in (int, str, bool):
        found = _exactly(hint)
    elif isinstance(hint, type) and issubclass(hint, Struct):
        found = hint.from_dict
    elif typing.get_origin(hint) is list:
        args = typing.get_args(hint)
        item = _decoder(args[0]) if args else _keep

        def found(value: Any, where: str) -> Any:
            if not isinstance(value, list | tuple):
                raise RecordError(f"{where}: expected a list, got {_kind(value)}")
            return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    elif _optional_of(hint) is not None:
        inner = _decoder(_optional_of(hint))

        def found(value: Any, where: str) -> Any:
            return None if value is None else inner(value, where)

    else:

        def found(value: Any, where: str) -> Any:
            return _decode(hint, value, where)

    _DECODERS[hint] = found
    return found


def _keep(value: Any, where: str) -> Any:
    return value


def _exactly(kind: type) -> Decode:
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RecordError(f"{where}: expected {kind.__name__}, got {_kind(value)}")
        return value

    return check


def _optional_of(hint: Any) -> Any:
    """``X`` for ``X | None`` (one X only), else None."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def _decode(hint: Any, value: Any, where: str) -> Any:
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _decode_union(typing.get_args(hint), value, where)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise RecordError(f"{where}: expected one of {list(typing.get_args(hint))!r}")
        return value
    if origin in (list, tuple, set, frozenset):
        return _decode_items(origin, typing.get_args(hint), value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {_kind(value)}")
        args = typing.get_args(hint)
        item = args[1] if args else Any
        return {str(k): _decode(item, v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(hint, type):
        return _decode_type(hint, value, where)
    return value


def _decode_union(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in args:
        return None
    problems = []
    for arg in args:
        if arg is not type(None):
            try:
                return _decode(arg, value, where)
            except RecordError as exc:
                problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    raise RecordError(f"{where}: {_kind(value)} is none of {', '.join(_name(a) for a in args)}")


def _decode_items(origin: type, args: tuple[Any, ...], value: Any, where: str) -> Any:
    if not isinstance(value, list | tuple):
        raise RecordError(f"{where}: expected a list, got {_kind(value)}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise RecordError(f"{where}: expected {len(args)} items, got {len(value)}")
        pairs = zip(args, value, strict=True)
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(pairs))
    item = args[0] if args else Any
    items = [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return items if origin is list else origin(items)


def _decode_type(hint: type, value: Any, where: str) -> Any:
    if issubclass(hint, Struct):
        return hint.from_dict(value, where)
    if issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise RecordError(f"{where}: {value!r} is not a {hint.__name__}") from None
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        raise RecordError(f"{where}: expected {hint.__name__}, got {_kind(value)}")
    return value


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
