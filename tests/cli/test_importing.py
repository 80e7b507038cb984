"""``procward import`` as a user runs it (``procward.cli.importing``): no daemon needed."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..importers.conftest import DATA, ENVIRON


def test_the_import_reports_on_stderr_what_does_not_carry_over(
    cli: Callable[..., Any], home: str
) -> None:
    out = os.path.join(home, "procward.toml")
    result = cli("import", os.path.join(DATA, "supervisord/messy.conf"), "-o", out, env=ENVIRON)
    assert "imported 1 app(s)" in result.err
    assert "messy.conf:14: minfds: not imported" in result.err
    with open(out, encoding="utf-8") as f:
        text = f.read()
    unwrapped = " ".join(line.lstrip("# ") for line in text.splitlines())  # notes are wrapped
    assert "messy.conf:14: minfds: not imported" in unwrapped
    again = cli("import", os.path.join(DATA, "supervisord/messy.conf"), "-o", out, env=ENVIRON)
    assert again.code == 1 and "--force" in again.err


def test_the_toml_goes_to_stdout_without_o(cli: Callable[..., Any]) -> None:
    result = cli("import", os.path.join(DATA, "procfile/heroku/Procfile"))
    assert result.code == 0
    assert result.out.startswith("# Imported from") and "[apps.clock]" in result.out
    assert "imported 4 app(s)" in result.err


def test_unreadable_and_unknown_files_are_refused_clearly(
    cli: Callable[..., Any], home: str
) -> None:
    missing = cli("import", os.path.join(home, "nope.conf"))
    assert missing.code == 1 and "procward: cannot read" in missing.err
    unknown = os.path.join(home, "apps.txt")
    with open(unknown, "w", encoding="utf-8") as f:
        f.write("[server]\nport = 1\n")
    result = cli("import", unknown)
    assert result.code == 1 and "cannot tell its format" in result.err and "--from" in result.err
    bad_choice = cli("import", unknown, "--from", "nomad")
    assert bad_choice.code == 2
