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

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, dataclass_transform

T = TypeVar("T")
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
