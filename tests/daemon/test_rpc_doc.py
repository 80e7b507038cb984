"""docs/rpc.md is the daemon's method registry, written out: they may not differ."""

from __future__ import annotations

import pathlib

from procward.daemon import rpcdoc

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "rpc.md"


def test_docs_rpc_md_is_what_the_registry_says() -> None:
    made = rpcdoc.render(rpcdoc.registry())
    assert DOC.read_text(encoding="utf-8") == made, (
        "docs/rpc.md differs from the registry: run `python -m procward.daemon.rpcdoc`"
    )


def test_every_method_has_a_row_with_its_role() -> None:
    text = DOC.read_text(encoding="utf-8")
    methods = list(rpcdoc.registry())
    assert len(methods) > 30
    for entry in methods:
        assert f"| `{entry.name}` | {entry.role.name.lower()} |" in text
