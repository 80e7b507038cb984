"""The typed arguments every command gets: the global options, and the shapes commands share.

Each command's function takes an ``Arguments`` subclass naming exactly the
options and arguments its parser entry sets (checked by
``tests/cli/test_args.py``), so mypy checks every use of them. Commands
with the same arguments share a class; the others declare their own next
to their function.
"""

from __future__ import annotations

from procward.kit.argv import Arguments


class Globals(Arguments):
    """The options before the command; ``json`` is also each command's ``--json``."""

    instance: str | None
    project: str | None
    connect: str | None
    json: bool
    version: bool


class AppArgs(Globals):
    """A command about one app: ``NAME``."""

    name: str


class AppsArgs(Globals):
    """A command about one app or all: ``[NAME]``."""

    name: str | None
