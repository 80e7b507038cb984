"""No import circle anywhere in ``src/procward``, read from the source.

Every import counts, in functions and ``if TYPE_CHECKING:`` blocks too. A
package's ``__init__`` is left out of the graph: importing a submodule runs
it, but it names what it re-exports, not what it needs (issue 12).
"""

from __future__ import annotations

import ast
import os

import procward

ROOT = os.path.dirname(procward.__file__)


def _module_of(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
    return rel.removesuffix(".__init__")


def _imports(path: str, known: set[str]) -> set[str]:
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:  # from procward.kit import _log: the module kit._log
                if f"{node.module}.{alias.name}" in known:
                    found.add(f"{node.module}.{alias.name}")
            if node.module in known:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
    return found


def _graph() -> dict[str, set[str]]:
    files = {}
    for here, _dirs, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".py") and name != "__init__.py":
                path = os.path.join(here, name)
                files[_module_of(path)] = path
    known = set(files) | {_module_of(os.path.join(d, "__init__.py")) for d, _, _ in os.walk(ROOT)}
    return {m: (_imports(p, known) & set(files)) - {m} for m, p in files.items()}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
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


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    assert len(graph) > 90  # the whole tree was read
    assert "procward.kit._vitals" in graph["procward.kit._daemon"]
    cycles = [c for m in sorted(graph) if (c := _cycle_from(m, graph)) is not None]
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)
