"""Well-typed params that still cannot be used are InvalidParams (issue 11, item 15)."""

from __future__ import annotations

import math

import pytest

from procward.kit._errors import InvalidParams
from procward.kit._rpc import Registry, Role, unfit_value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (math.nan, "must be a finite number"),
        (math.inf, "must be a finite number"),
        (-math.inf, "must be a finite number"),
        (10**30, "is out of range"),
        (-(10**30), "is out of range"),
        ("a\0b", "must not contain NUL characters"),
        ("\ud800", "is not valid Unicode text (a lone surrogate at position 0)"),
        (["ok", "\udc80"], "item 1 is not valid Unicode text"),
    ],
)
def test_unusable_values_say_why(value: object, why: str) -> None:
    found = unfit_value(value)
    assert found is not None and found.startswith(why)


@pytest.mark.parametrize("value", [0, -5, 2**63 - 1, 1.5, "héllo ✓", ["a", 1], True, None, {}])
def test_usable_values_pass(value: object) -> None:
    assert unfit_value(value) is None


def test_bind_refuses_them_naming_the_parameter() -> None:
    def stop(ctx: object, name: str, timeout: float | None = None) -> None: ...

    entry = Registry().add(stop, Role.OPERATOR)
    with pytest.raises(InvalidParams, match="stop: parameter 'timeout' must be a finite number"):
        entry.bind({"name": "x", "timeout": math.nan})
    with pytest.raises(InvalidParams, match="stop: parameter 'name' must not contain NUL"):
        entry.bind({"name": "x\0"})
    assert entry.bind({"name": "x", "timeout": 2}) == {"name": "x", "timeout": 2}
