"""``procward @NAME COMMAND``: a command run against the daemon an alias names.

The aliases are remotes.toml's (``procward.remotes``); ``@NAME`` is the same
as ``--connect NAME``. The order is agreed with the fleet's ``@NODE``
(``cli/atnode.py``): an alias of remotes.toml first, then a fleet node, so
``at_alias`` answers None for a name that is no alias and the next one may
be asked.
"""

from __future__ import annotations


def at_alias(argv: list[str]) -> list[str] | None:
    """``["@prod", "status"]`` as ``["--connect", "prod", "status"]``; None if no alias.

    A remotes file that is there but unsafe or wrong raises ``RemotesError``
    (a ``ValueError``), saying why.
    """
    from procward.remotes import resolve

    name = argv[0].removeprefix("@")
    if resolve(name) is None:
        return None
    return ["--connect", name, *argv[1:]]


def unknown(word: str) -> str:
    """What to say of an ``@NAME`` that nothing knows."""
    from procward.remotes import remotes_path

    return f"{word}: no such remote (the aliases are in {remotes_path()})"
