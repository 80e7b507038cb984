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
a missing field takes its default or is an error. A field whose name on the
wire is a Python keyword says so in ``_wire`` (``{"was": "from"}``).
Decoding reads the annotations without importing ``typing`` (20 ms, a third
of a CLI command's budget) and builds each class's decoder once.

Why not dataclasses (decision 0018): ``@dataclass`` compiles a new
``__init__``, ``__eq__``, ``__repr__`` and ``__hash__`` for every class with
``exec``, ~15 KB of memory each; the daemon has 30-odd such classes at start,
~0.5 MB plus 0.16 MB for the module, out of an RSS budget where supervisord
is the peer to beat. Here every class shares the same few functions; a
class costs its type object and slot descriptors. The generic ``__init__``
is slower than a generated one (~1 µs); the supervisor's state machine
makes a few records per restart, so ``__init__`` and ``replace`` set slots
directly and ``__eq__`` reads every field in one ``attrgetter`` call (a
crash storm's CPU per restart: a tenth of it was here).
"""

from __future__ import annotations

import sys
from _operator import attrgetter  # the C module: `operator` would be one more import

# Not `typing` (20 ms) nor `collections.abc` (3 ms: it imports `collections`): the
# CLI decodes replies with this module, and neither is on its path otherwise.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    T = TypeVar("T")
    S = TypeVar("S", bound="Struct")
else:

    def dataclass_transform(**_: object) -> Callable[[type], type]:
        return lambda cls: cls


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


def _values_of(fields: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(fields) > 1:
        return attrgetter(*fields)
    if fields:
        get = attrgetter(fields[0])
        return lambda self: (get(self),)
    return lambda self: ()


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
        # Every field's value in one C call (``__eq__``, ``__hash__``); a tuple always.
        ns["_getter"] = staticmethod(_values_of(ns["_fields"]))
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

        @staticmethod
        def _getter(obj: Any) -> tuple[Any, ...]:  # every field's value, in order
            ...

        # A field's name on the wire where it is not its own (a Python keyword),
        # declared by the classes that need one: ``{"was": "from"}``.
        _wire: ClassVar[dict[str, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Hot: the supervisor's state machine makes a few records per restart.
        fields, given, put = self._fields, len(args), object.__setattr__
        if given > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments")
        for key, value in zip(fields, args):  # noqa: B905 (fewer args than fields)
            put(self, key, value)
        if given == len(fields) and not kwargs:
            return
        defaults = self._defaults
        for key in fields[given:]:
            if key in kwargs:
                value = kwargs.pop(key)
            elif key in defaults:
                value = defaults[key]
                if type(value) is _Factory:
                    value = value.make()
            else:
                raise TypeError(f"{type(self).__name__}() is missing {key!r}")
            put(self, key, value)
        for key in kwargs:  # what no field took: given twice, or unknown
            if key in fields:
                raise TypeError(f"{type(self).__name__}() got {key!r} twice")
            raise TypeError(f"{type(self).__name__}() got an unexpected argument {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {key!r}")

    def _values(self) -> tuple[Any, ...]:
        return self._getter(self)

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values: nested structs as dicts, enums by value."""
        wire = getattr(type(self), "_wire", None)
        if wire:
            return {wire.get(key, key): _plain(getattr(self, key)) for key in self._fields}
        return {key: _plain(getattr(self, key)) for key in self._fields}

    @classmethod
    def from_dict(cls: type[S], data: object, where: str = "") -> S:
        """The record ``data`` holds, every field checked against its annotation."""
        try:
            return _record_decoder(cls)(data)  # type: ignore[no-any-return]
        except _Wrong as wrong:
            raise RecordError(wrong.text(where, cls.__name__)) from None

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._getter(self) == other._getter(other)

    def __hash__(self) -> int:
        return hash((self.__class__, self._getter(self)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._fields)
        return f"{type(self).__name__}({shown})"


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the struct ``obj`` with ``changes``."""
    cls = type(obj)
    fields = cls._fields  # type: ignore[attr-defined]
    for key in changes:
        if key not in fields:
            raise TypeError(f"{cls.__name__} has no field {key!r}")
    # Field by field, not through __init__: a state change makes several copies.
    copy, put = object.__new__(cls), object.__setattr__
    for key in fields:
        put(copy, key, changes[key] if key in changes else getattr(obj, key))
    return copy


class RecordError(ValueError):
    """A dict that does not hold the record it should (``Struct.from_dict``)."""


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Struct):
        return value.as_dict()
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    enum = sys.modules.get("enum")  # no enum member exists before `enum` is imported
    if enum is not None and isinstance(value, enum.Enum):
        return value.value
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


# -- from_dict: each class's decoder, worked out once ---------------------------------
#
# A decoder takes a value and returns it checked (or converted: a float from an
# int, an enum from its value, a record from a dict); a wrong value raises
# ``_Wrong``, whose path grows as it unwinds, so the happy path formats no
# "apps[3].instances[0].pid" strings (10,000 of them for a status of 500 apps).
# ``None`` as a decoder: the value is kept as it is (``Any``, ``object``).
#
# Annotations are read without ``typing``: under ``from __future__ import
# annotations`` they are strings, evaluated in their module with ``Any`` and
# ``Literal`` standing for the forms below; ``X | None`` and ``list[X]`` are
# built-in types since Python 3.10.

if TYPE_CHECKING:
    Decode = Callable[[Any], Any]


class _Wrong(Exception):
    """A value that is not what its annotation says, and where it is."""

    def __init__(self, problem: str, *path: str) -> None:
        self.problem = problem
        self.path = list(path)  # innermost first

    def text(self, where: str, name: str) -> str:
        path = "".join(reversed(self.path))
        place = where + path if where else path.removeprefix(".")
        return f"{place or name}: {self.problem}"


class _Form:
    """What an annotation names that is not a class: ``Any``, ``Literal[...]``, a union."""

    __slots__ = ()

    def __or__(self, other: object) -> _Union:
        return _Union((self, other))

    def __ror__(self, other: object) -> _Union:
        return _Union((other, self))


class _AnyForm(_Form):
    __slots__ = ()


class _LiteralForm(_Form):
    __slots__ = ("values",)

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values


class _LiteralMaker:
    def __getitem__(self, values: Any) -> _LiteralForm:
        return _LiteralForm(values if isinstance(values, tuple) else (values,))


class _Union(_Form):
    __slots__ = ("args",)

    args: tuple[Any, ...]

    def __init__(self, args: tuple[Any, ...]) -> None:
        flat: list[Any] = []
        for arg in args:
            if isinstance(arg, _Union):
                flat += arg.args
            elif isinstance(arg, _UnionType):
                flat += arg.__args__
            else:
                flat.append(type(None) if arg is None else arg)
        self.args = tuple(flat)


_ANY = _AnyForm()
_NAMES = {"Any": _ANY, "Literal": _LiteralMaker()}
_UnionType: Any = type(int | None)  # types.UnionType, without importing `types`
_GenericAlias: Any = type(list[int])


def _annotations(cls: type[Struct]) -> dict[str, Any]:
    """Each field's annotation, evaluated in the module of the class that declares it."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        own = klass.__dict__.get("__annotations__")  # noqa: RUF063 - `inspect` is 10 ms
        if not own or not issubclass(klass, Struct):
            continue
        names = vars(sys.modules[klass.__module__])
        for key, written in own.items():
            if key not in cls._fields:
                continue
            if not isinstance(written, str):
                found[key] = written
                continue
            try:
                found[key] = _evaluate(written, names)
            except Exception as exc:
                raise TypeError(
                    f"{klass.__name__}.{key}: cannot read its annotation {written!r}: {exc}"
                ) from None
    return found


_BUILTINS = {
    kind.__name__: kind
    for kind in (int, str, float, bool, bytes, object, list, dict, tuple, set, frozenset)
}


def _evaluate(written: str, names: dict[str, Any]) -> Any:
    """What an annotation as written names, in the module whose ``names`` are given.

    The usual ones (``int | None``, ``list[AppView]``, ``Literal["a", "b"]``) are
    read by a small parser, a third of ``eval``'s time (it compiles each string:
    ~20 µs, 1 ms of a ``procward status``); anything else is ``eval``'d. The same
    words in the same module (``str | None``, ``int``) are read once."""
    key = (written, names.get("__name__"))
    found = _EVALUATED.get(key, _NO_DEFAULT)
    if found is not _NO_DEFAULT:
        return found
    try:
        tokens = _tokens(written)
        found, end = _read_union(tokens, 0, names)
        if end != len(tokens):
            raise ValueError(written)
    except (ValueError, KeyError, IndexError):
        found = eval(written, names, _NAMES)  # our own source's annotations
    _EVALUATED[key] = found
    return found


_EVALUATED: dict[tuple[str, Any], Any] = {}


def _tokens(text: str) -> list[str]:
    """``list[int] | None`` as ``["list", "[", "int", "]", "|", "None"]``; a string
    literal keeps its quote (``'a``); ValueError for anything else."""
    tokens = []
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char == " ":
            at += 1
        elif char in "[]|,":
            tokens.append(char)
            at += 1
        elif text.startswith("...", at):
            tokens.append("...")
            at += 3
        elif char in "'\"":
            close = text.index(char, at + 1)
            tokens.append("'" + text[at + 1 : close])
            at = close + 1
        elif char.isalpha() or char == "_":
            start = at
            at += 1
            while at < end and (text[at].isalnum() or text[at] in "_."):
                at += 1
            tokens.append(text[start:at])
        else:
            raise ValueError(text)
    return tokens


def _read_union(tokens: list[str], at: int, names: dict[str, Any]) -> tuple[Any, int]:
    hint, at = _read_term(tokens, at, names)
    while at < len(tokens) and tokens[at] == "|":
        other, at = _read_term(tokens, at + 1, names)
        hint = hint | other
    return hint, at


def _read_term(tokens: list[str], at: int, names: dict[str, Any]) -> tuple[Any, int]:
    token = tokens[at]
    if token[0] == "'":
        return token[1:], at + 1
    if token == "...":
        return Ellipsis, at + 1
    if token == "None":
        hint: Any = None
    else:
        first, *rest = token.split(".")
        hint = _NAMES.get(first) or names.get(first) or _BUILTINS[first]
        for attribute in rest:
            hint = getattr(hint, attribute)
    at += 1
    if at < len(tokens) and tokens[at] == "[":
        args = []
        while True:
            arg, at = _read_union(tokens, at + 1, names)
            args.append(arg)
            if tokens[at] == "]":
                break
            if tokens[at] != ",":
                raise ValueError(tokens[at])
        hint = hint[tuple(args) if len(args) > 1 else args[0]]
        at += 1
    return hint, at


def _normal(hint: Any) -> Any:
    """``typing``'s ``Any``, ``Literal`` and ``Union`` (annotations that were not strings)
    as the forms above."""
    typing = sys.modules.get("typing")
    if typing is None or isinstance(hint, type | _Form):
        return hint
    if hint is typing.Any:
        return _ANY
    origin = getattr(hint, "__origin__", None)
    if origin is typing.Literal:
        return _LiteralForm(hint.__args__)
    if origin is typing.Union:
        return _Union(hint.__args__)
    return hint


_RECORDS: dict[type, Decode] = {}
_DECODERS: dict[Any, Decode | None] = {}


def _record_decoder(cls: type[Struct]) -> Decode:
    found = _RECORDS.get(cls)
    if found is not None:
        return found
    fields: list[tuple[str, str, frozenset[type], Decode | None, Any]] = []
    new = object.__new__
    put = object.__setattr__

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _Wrong(f"expected an object, got {_kind(data)}")
        record = new(cls)
        for key, wire, exact, check, default in fields:
            value = data.get(wire, _NO_DEFAULT)
            if type(value) in exact:  # most fields: a str, an int, a None, taken as they are
                put(record, key, value)
                continue
            if value is _NO_DEFAULT:
                if default is _NO_DEFAULT:
                    raise _Wrong("missing", f".{wire}")
                value = default.make() if type(default) is _Factory else default
            elif check is not None:
                try:
                    value = check(value)
                except _Wrong as wrong:
                    wrong.path.append(f".{wire}")
                    raise
            put(record, key, value)
        return record

    _RECORDS[cls] = decode  # first: a record may hold records of its own kind
    try:
        hints = _annotations(cls)
        wire = getattr(cls, "_wire", {})
        for key in cls._fields:
            check = _decoder(hints[key])
            default = cls._defaults.get(key, _NO_DEFAULT)
            fields.append((key, wire.get(key, key), _exact(hints[key]), check, default))
    except BaseException:
        del _RECORDS[cls]
        raise
    return decode


def _exact(hint: Any) -> frozenset[type]:
    """The types whose values ``hint`` takes unchanged without a look inside: ``str``,
    ``int``, ``bool``, ``None`` and their unions (``float`` takes an int too: it converts)."""
    hint = _normal(hint)
    args = hint.__args__ if isinstance(hint, _UnionType) else (hint,)
    scalars = frozenset({str, int, bool, type(None)})
    if all(arg in scalars or arg is None for arg in args):
        return frozenset(type(None) if arg is None else arg for arg in args)
    return frozenset()


def _decoder(hint: Any) -> Decode | None:
    hint = _normal(hint)
    try:
        return _DECODERS[hint]
    except KeyError:
        found = _DECODERS[hint] = _build(hint)
        return found
    except TypeError:  # unhashable
        return _build(hint)


def _build(hint: Any) -> Decode | None:
    if hint is _ANY or hint is object:
        return None
    if isinstance(hint, _GenericAlias):
        return _items(hint.__origin__, hint.__args__)
    if isinstance(hint, _UnionType):
        return _union(hint.__args__)
    if isinstance(hint, _Union):
        return _union(hint.args)
    if isinstance(hint, _LiteralForm):
        return _literal(hint.values)
    if not isinstance(hint, type):
        return None
    if issubclass(hint, Struct):
        return _record_decoder(hint)
    enum = sys.modules.get("enum")
    if enum is not None and issubclass(hint, enum.Enum):
        return _member(hint)
    if hint is float:
        return _float
    return _instance(hint)


def _instance(kind: type, nullable: bool = False) -> Decode:
    name = kind.__name__
    no_bool = kind is int  # True is an int to Python, not to a record

    def decode(value: Any) -> Any:
        if type(value) is kind or (value is None and nullable):
            return value
        if isinstance(value, kind) and not (no_bool and isinstance(value, bool)):
            return value
        raise _Wrong(f"expected {name}, got {_kind(value)}")

    return decode


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _Wrong(f"expected float, got {_kind(value)}")


def _member(kind: Any) -> Decode:
    def decode(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise _Wrong(f"{value!r} is not a {kind.__name__}") from None

    return decode


def _literal(values: tuple[Any, ...]) -> Decode:
    def decode(value: Any) -> Any:
        if value not in values:
            raise _Wrong(f"expected one of {list(values)!r}")
        return value

    return decode


def _items(origin: Any, args: tuple[Any, ...]) -> Decode | None:
    if origin is dict:
        return _mapping(_decoder(args[1]) if len(args) == 2 else None)
    if origin not in (list, tuple, set, frozenset):
        return None
    if origin is tuple and args and args[-1] is not Ellipsis:
        return _fixed(tuple(_decoder(a) for a in args))
    item = _decoder(args[0]) if args else None
    make = None if origin is list else origin

    def decode(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Wrong(f"expected a list, got {_kind(value)}")
        if item is None:
            items = list(value)
        else:
            try:
                items = [item(v) for v in value]
            except _Wrong:
                _blame(item, value, "[{}]")
                raise
        return items if make is None else make(items)

    return decode


def _blame(check: Decode, values: Any, where: str, keys: Any = None) -> None:
    """Raise the first wrong value's ``_Wrong`` with its index (or key) on the path: the
    happy path of a list or an object does not count."""
    for index, value in zip(keys if keys is not None else range(len(values)), values, strict=True):
        try:
            check(value)
        except _Wrong as wrong:
            wrong.path.append(where.format(repr(index) if keys is not None else index))
            raise wrong from None


def _mapping(item: Decode | None) -> Decode:
    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Wrong(f"expected an object, got {_kind(value)}")
        if item is None:
            return {str(k): v for k, v in value.items()}
        try:
            return {str(k): item(v) for k, v in value.items()}
        except _Wrong:
            _blame(item, list(value.values()), "[{}]", list(value))
            raise

    return decode


def _fixed(items: tuple[Decode | None, ...]) -> Decode:
    def decode(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Wrong(f"expected a list, got {_kind(value)}")
        if len(value) != len(items):
            raise _Wrong(f"expected {len(items)} items, got {len(value)}")
        out = []
        for i, (check, v) in enumerate(zip(items, value, strict=True)):
            try:
                out.append(v if check is None else check(v))
            except _Wrong as wrong:
                wrong.path.append(f"[{i}]")
                raise
        return tuple(out)

    return decode


def _union(args: tuple[Any, ...]) -> Decode | None:
    others = [a for a in args if a is not type(None)]
    nullable = len(others) < len(args)
    if len(others) == 1:
        if nullable and others[0] in (int, str, bool):  # most fields: one call, not two
            return _instance(others[0], nullable=True)
        inner = _decoder(others[0])
        if inner is None:
            return None

        def optional(value: Any) -> Any:
            return None if value is None and nullable else inner(value)

        return optional
    checks = [_decoder(a) for a in others]
    if any(check is None for check in checks):
        return None  # `X | Any` is anything
    names = ", ".join(_name(a) for a in args)

    def decode(value: Any) -> Any:
        if value is None and nullable:
            return None
        for check in checks:
            try:
                return check(value)  # type: ignore[misc]
            except _Wrong:
                pass
        raise _Wrong(f"{_kind(value)} is none of {names}")

    return decode


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
