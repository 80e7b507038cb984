"""``Struct``: what the daemon's value classes rely on, as dataclasses gave it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from procward.kit.structs import Struct, field, replace


class Point(Struct):
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    LIMIT: ClassVar[int] = 10


class Point3(Point):
    z: int = 0


class Counter(Struct, frozen=False):
    n: int = 0


class Handle(Struct, frozen=False, eq=False):
    name: str


def test_init_positional_keyword_and_defaults() -> None:
    p = Point(1, tags=["a"])
    assert (p.x, p.y, p.tags) == (1, 0, ["a"])
    assert Point(1).tags is not Point(1).tags  # a fresh default each time
    assert Point.LIMIT == 10 and "LIMIT" not in Point._fields
    with pytest.raises(TypeError, match="missing 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected argument 'w'"):
        Point(1, w=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="got 'x' twice"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Point(1, 2, [], 4)  # type: ignore[call-arg]


def test_frozen_equal_hashable_and_shown() -> None:
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="Point is frozen: cannot set 'x'"):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]  # slots: no stray attributes
    assert p == Point(1, 2) and p != Point(1, 3)
    assert Point3(1, 2) != Point(1, 2)  # another class is never equal
    assert {Point(1, 2, ()), Point(1, 2, ())} == {Point(1, 2, ())}
    assert repr(p) == "Point(x=1, y=2, tags=[])"


def test_subclasses_add_fields_after_the_inherited_ones() -> None:
    assert Point3._fields == ("x", "y", "tags", "z")
    assert Point3(1, z=3) == Point3(1, 0, [], 3)


def test_mutable_structs_can_change_and_are_not_hashable() -> None:
    c = Counter()
    c.n += 1
    assert c == Counter(1)
    with pytest.raises(TypeError, match="unhashable"):
        hash(c)


def test_identity_structs_are_equal_only_to_themselves() -> None:
    a, b = Handle("x"), Handle("x")
    assert a != b and len({a, b}) == 2 and {a, b} - {a} == {b}


def test_replace_copies_with_changes() -> None:
    p = Point(1, 2, ["t"])
    q = replace(p, y=5)
    assert (q.x, q.y, q.tags) == (1, 5, ["t"]) and p.y == 2
    with pytest.raises(TypeError, match="Point has no field 'w'"):
        replace(p, w=1)
