"""``Daemon`` is built from parts: what each part registers, and the rules the kit keeps.

Pure tests: a daemon is constructed, never run.
"""

from __future__ import annotations

import ast
import os
from typing import Any

import pytest

import procward.kit
from procward.kit import Daemon, Role
from procward.kit._handover import Upgrade
from procward.kit._network import TokenMethods
from procward.kit._paths import InstancePaths

KIT_DIR = os.path.dirname(procward.kit.__file__)


class Tiny(Daemon):
    prefix = "tiny"


@pytest.fixture
def tiny(tmp_path: Any) -> Tiny:
    return Tiny(InstancePaths("tiny", "default", str(tmp_path / "run"), str(tmp_path / "state")))


# (name, role, parameters after ctx) of every built-in method, as before the split into parts.
BUILT_IN = {
    ("ping", Role.ANONYMOUS, ()),
    ("shutdown", Role.ADMIN, ("force",)),
    ("upgrade", Role.ADMIN, ()),
    ("authenticate", Role.ANONYMOUS, ("token",)),
    ("createToken", Role.ADMIN, ("role", "ttl", "subject")),
    ("rotateTokens", Role.ADMIN, ()),
    ("revokeToken", Role.ADMIN, ("id",)),
    ("listTokens", Role.ADMIN, ()),
}


def test_the_built_in_methods_keep_their_names_roles_and_params(tiny: Tiny) -> None:
    assert {(m.name, m.role, m.names) for m in tiny.registry} == BUILT_IN


def test_each_method_is_served_by_its_part(tiny: Tiny) -> None:
    owners = {m.name: type(getattr(m.handler, "__self__", None)) for m in tiny.registry}
    assert owners["upgrade"] is Upgrade
    assert {owners[n] for n in ("authenticate", "createToken", "listTokens")} == {TokenMethods}
    assert owners["ping"] is Tiny


def test_the_upgrade_part_reads_its_hooks_from_the_daemon(tiny: Tiny) -> None:
    assert tiny.upgrader.hooks is tiny
    assert tiny.preflight_argv()[-1] == "--check"
    assert not tiny.upgrader.under_way and tiny.upgrader.handing is None


def parse(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read())


def kit_imports(path: str) -> set[str]:
    """Every kit module ``path`` imports, at run time or for type checking only."""
    found = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.module == "procward.kit":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("procward.kit."):
            found.add((node.module or "").split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[2] for a in node.names if a.name.startswith("procward.kit.")
            }
    return found


def kit_modules() -> dict[str, str]:
    return {
        name[: -len(".py")]: os.path.join(KIT_DIR, name)
        for name in os.listdir(KIT_DIR)
        if name.endswith(".py") and name != "__init__.py"
    }


def test_no_import_circles_in_the_kit() -> None:
    modules = kit_modules()
    graph = {name: kit_imports(path) & modules.keys() for name, path in modules.items()}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return seen

    assert [name for name in sorted(graph) if name in reachable(name)] == []


MUTABLE = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def test_no_class_level_mutable_state_in_the_kit() -> None:
    found = []
    for name, path in kit_modules().items():
        for cls in ast.walk(parse(path)):
            if not isinstance(cls, ast.ClassDef):
                continue
            for stmt in cls.body:
                value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
                if isinstance(value, MUTABLE):
                    found.append(f"{name}.{cls.name}: {ast.unparse(stmt)}")
    assert found == []


def test_no_class_restates_its_host_for_the_type_checker() -> None:
    # ``if TYPE_CHECKING:`` inside a class body: a mixin pretending to know its host.
    found = []
    for name, path in kit_modules().items():
        for cls in ast.walk(parse(path)):
            if isinstance(cls, ast.ClassDef):
                ifs = [s for s in cls.body if isinstance(s, ast.If)]
                found += [
                    f"{name}.{cls.name}" for s in ifs if "TYPE_CHECKING" in ast.unparse(s.test)
                ]
    # Struct's block declares what its metaclass sets: its own attributes, not a host's.
    assert found == ["_structs.Struct"]
