"""No import circles inside ``procward.supervision``, read from the source.

Every import counts, in functions and ``if TYPE_CHECKING:`` blocks too: an
instance talks to its host through ``host.py``'s protocols, so nothing below
the supervisor needs to name it.
"""

from __future__ import annotations

import ast
import os

import procward.supervision

PACKAGE = "procward.supervision"
DIRECTORY = os.path.dirname(procward.supervision.__file__)


def _imports(path: str) -> set[str]:
    """The modules of ``procward.supervision`` that the file at ``path`` imports."""
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == PACKAGE:  # from procward.supervision import process
                found.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {
        f"{PACKAGE}.{name[:-3]}": os.path.join(DIRECTORY, name)
        for name in os.listdir(DIRECTORY)
        if name.endswith(".py") and name != "__init__.py"
    }
    return {module: _imports(path) & set(modules) - {module} for module, path in modules.items()}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from ``start`` back to ``start``, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, path = stack.pop()
        for imported in sorted(graph[module]):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_no_module_of_supervision_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    assert len(graph) > 20  # the package was read
    cycles = [c for m in sorted(graph) if (c := _cycle_from(m, graph)) is not None]
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)
