"""An idle daemon, even one serving HTTP, loads nothing of the dashboard (decision 0046)."""

from __future__ import annotations

import ast

from tests.test_layers import MODULES, imported_by, in_layer


def test_a_daemon_serving_http_loads_no_dashboard() -> None:
    code = (
        "import procward.daemon.service, procward.kit._http, procward.cli.main\n"
        "from procward.daemon.parts.views import HttpPages\n"
    )
    loaded = imported_by(code)
    assert "procward.kit._http" in loaded and "procward.daemon.parts.views" in loaded
    assert not [name for name in loaded if in_layer(name, "procward.dashboard")]


def test_only_the_first_request_imports_it() -> None:
    """Outside its package, only ``HttpPages`` imports it: in a function, and for types."""
    importers = []
    for module, path in MODULES.items():
        if in_layer(module, "procward.dashboard"):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in tree.body:
            assert not _imports_dashboard(node), f"{module} imports the dashboard at its top"
        importers += [module for node in ast.walk(tree) if _imports_dashboard(node)]
    assert importers == ["procward.daemon.parts.views", "procward.daemon.parts.views"]


def _imports_dashboard(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return in_layer(node.module or "", "procward.dashboard")
    if isinstance(node, ast.Import):
        return any(in_layer(alias.name, "procward.dashboard") for alias in node.names)
    return False
