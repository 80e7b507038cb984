"""``Struct``: what the daemon's value classes rely on, as dataclasses gave it."""

from __future__ import annotations

import enum as _enum
import json
from typing import Any, ClassVar, Literal

import pytest

from procward.kit._structs import RecordError, Struct, field, replace


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


# -- as_dict / from_dict: records across a boundary ------------------------------


class _Colour(_enum.Enum):
    RED = "red"
    BLUE = "blue"


class _Leaf(Struct):
    pid: int
    fds: dict[str, int] = field(default_factory=dict)


class _Tree(Struct):
    version: int
    name: str
    colour: _Colour
    ratio: float
    leaves: list[_Leaf]
    budget: tuple[float, ...] = ()
    note: str | None = None


def test_a_record_goes_to_a_dict_and_back() -> None:
    tree = _Tree(1, "web", _Colour.RED, 0.5, [_Leaf(7, {"out": 3})], (1.0, 2.0))
    data = tree.as_dict()
    assert data == {
        "version": 1,
        "name": "web",
        "colour": "red",
        "ratio": 0.5,
        "leaves": [{"pid": 7, "fds": {"out": 3}}],
        "budget": [1.0, 2.0],
        "note": None,
    }
    assert _Tree.from_dict(json.loads(json.dumps(data))) == tree


def test_from_dict_names_the_path_of_a_wrong_field() -> None:
    data = _Tree(1, "web", _Colour.RED, 1, [_Leaf(7), _Leaf(8)]).as_dict()
    data["leaves"][1]["pid"] = "8"
    with pytest.raises(RecordError, match=r"leaves\[1\]\.pid: expected int, got str"):
        _Tree.from_dict(data)
    data["leaves"][1] = {"fds": {}}
    with pytest.raises(RecordError, match=r"leaves\[1\]\.pid: missing"):
        _Tree.from_dict(data)
    with pytest.raises(RecordError, match="colour: 'green' is not a _Colour"):
        _Tree.from_dict({**data, "leaves": [], "colour": "green"})
    with pytest.raises(RecordError, match="expected an object, got list"):
        _Tree.from_dict([])
    with pytest.raises(RecordError, match="version: expected int, got bool"):
        _Tree.from_dict({**data, "leaves": [], "version": True})


def test_from_dict_takes_defaults_ignores_unknown_keys_and_widens_int_to_float() -> None:
    tree = _Tree.from_dict(
        {"version": 2, "name": "x", "colour": "blue", "ratio": 3, "leaves": [], "new": 1}
    )
    assert tree.ratio == 3.0 and isinstance(tree.ratio, float)
    assert tree.budget == () and tree.note is None


class _Node(Struct):
    name: str
    kind: Literal["leaf", "branch"]
    children: list[_Node] = field(default_factory=list)
    size: int | str | None = None
    shape: tuple[int, str] | None = None
    labels: dict[str, int] = field(default_factory=dict)
    extra: Any = None
    was: str = ""
    _wire: ClassVar[dict[str, str]] = {"was": "from"}


def test_from_dict_reads_nested_records_literals_unions_and_tuples() -> None:
    data = {
        "name": "root",
        "kind": "branch",
        "children": [{"name": "a", "kind": "leaf", "size": "big", "shape": [1, "x"]}],
        "size": 3,
        "labels": {"x": 1},
        "extra": {"anything": [1]},
        "from": "seed",
    }
    node = _Node.from_dict(data)
    assert node.children[0] == _Node("a", "leaf", size="big", shape=(1, "x"))
    assert (node.size, node.labels, node.extra, node.was) == (
        3,
        {"x": 1},
        {"anything": [1]},
        "seed",
    )
    assert node.as_dict()["from"] == "seed" and "was" not in node.as_dict()
    assert _Node.from_dict(json.loads(json.dumps(node.as_dict()))) == node


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "trunk"}, r"^kind: expected one of \['leaf', 'branch'\]$"),
        ({"size": 1.5}, r"^size: float is none of int, str, null$"),
        ({"labels": {"x": 1, "y": "2"}}, r"^labels\['y'\]: expected int, got str$"),
        ({"children": [{"name": "a", "kind": "leaf"}, {"name": 2}]}, r"^children\[1\]\.name: "),
        (
            {"children": [{"name": "a", "kind": "leaf", "shape": [1, 2]}]},
            r"^children\[0\]\.shape\[1\]: expected str, got int$",
        ),
        ({"shape": [1]}, r"^shape: expected 2 items, got 1$"),
        ({"from": None}, r"^from: expected str, got null$"),
        ({"children": {}}, r"^children: expected a list, got dict$"),
    ],
)
def test_from_dict_names_where_a_nested_value_is_wrong(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        _Node.from_dict({"name": "root", "kind": "leaf", **change})


def test_from_dict_places_the_path_after_the_callers_where() -> None:
    with pytest.raises(RecordError, match=r"^\[3\]\.kind: missing$"):
        _Node.from_dict({"name": "x"}, "[3]")
    with pytest.raises(RecordError, match=r"^\[3\]: expected an object, got int$"):
        _Node.from_dict(7, "[3]")


def test_an_annotation_that_names_nothing_is_a_clear_error() -> None:
    class Broken(Struct):
        value: NoSuchType  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"Broken\.value: cannot read its annotation 'NoSuchType'"):
        Broken.from_dict({"value": 1})


def test_equality_and_hash_hold_for_one_field_none_and_inherited_ones() -> None:
    class One(Struct):
        x: int

    class Empty(Struct):
        pass

    class More(One):
        y: int = 2

    assert One(1) == One(1) != One(2) and hash(One(1)) == hash(One(1))
    assert Empty() == Empty() and hash(Empty()) == hash(Empty())
    assert More(1) == More(1, 2) != More(1, 3)
    assert replace(More(1), y=5)._values() == (1, 5)
