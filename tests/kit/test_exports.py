"""The kit's public surface is exactly ``procward.kit.__all__`` (and ``kit.testing``)."""

from __future__ import annotations

import ast
import os

from procward import kit

KIT_DIR = os.path.dirname(kit.__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(KIT_DIR)))


def test_every_exported_name_is_listed_once_and_resolves() -> None:
    assert len(kit.__all__) == len(set(kit.__all__))
    for name in kit.__all__:
        value = getattr(kit, name)
        assert getattr(value, "__module__", "").startswith("procward.kit._"), name
    public = [name for name in dir(kit) if not name.startswith("_")]
    assert sorted(set(public) - {"TYPE_CHECKING", "annotations", "testing"}) == sorted(kit.__all__)


def _parse(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read())


def test_the_type_checkers_view_matches_the_lazy_one() -> None:
    """The ``if TYPE_CHECKING:`` imports name exactly the exports, from the same modules."""
    tree = _parse(os.path.join(KIT_DIR, "__init__.py"))
    seen = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("procward.kit._"):
            for alias in node.names:
                seen[alias.name] = (node.module or "").removeprefix("procward.kit._")
    assert seen == kit._EXPORTS
    assert sorted(seen) == sorted(kit.__all__)


def test_implementation_modules_are_private() -> None:
    modules = [name for name in os.listdir(KIT_DIR) if name.endswith(".py")]
    public = sorted(name for name in modules if not name.startswith("_"))
    assert public == ["testing.py"]


def test_the_example_daemon_uses_only_the_public_kit() -> None:
    """``examples/`` is how others build on the kit: no private module there."""
    examples = os.path.join(ROOT, "examples")
    for name in sorted(os.listdir(examples)):
        if not name.endswith(".py"):
            continue
        tree = _parse(os.path.join(examples, name))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module in {"procward", "procward.kit", "procward.kit.testing"} or not (
                    node.module or ""
                ).startswith("procward"), f"{name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("procward.kit."), f"{name}: {alias.name}"
