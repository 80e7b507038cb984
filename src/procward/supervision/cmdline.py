"""A command written as one string: when a shell runs it, and what procward expands.

The rule, as Docker's ``CMD`` and every Procfile runner have it:

- a string with shell syntax outside quotes (``;``, ``&&``, ``|``, ``>``,
  ``$(...)``, backquotes, globs, a leading ``VAR=value``, ``~``) is run by
  ``/bin/sh -c``, whole, and the shell expands its variables;
- any other string is split into arguments as the shell would split it and
  run directly (no shell process), and procward expands ``$VAR`` in it,
  except inside single quotes, where a shell would not either;
- an array is run as it is, each argument expanded (``$$`` for a literal ``$``).

``{instance}`` is procward's own and is expanded everywhere. Before this
module ``"echo hi; exit 7"`` printed ``hi; exit 7``, and in
``"sh -c 'X=1; echo $X'"`` procward replaced ``$X`` (empty) before the shell
ever saw it.

Expansion itself is ``spec.expand_arg``'s; this module only marks the
dollars procward must leave alone, by doubling them (``$$`` is its literal
dollar), so that the stored argv needs no flag beside it.
"""

from __future__ import annotations

import shlex

__all__ = ["SHELL", "to_argv"]

SHELL = "/bin/sh"
_OPERATORS = frozenset(";&|<>()`\n")
_GLOBS = frozenset("*?[")


def to_argv(text: str) -> tuple[str, ...]:
    """The argv a command string runs as (``ValueError`` if it cannot be split)."""
    shell, protected = _scan(text)
    if shell:  # the shell's to expand; only {instance} is procward's
        escaped = text.replace("$", "$$").replace("{{", "{{{{").replace("}}", "}}}}")
        return (SHELL, "-c", escaped)
    return tuple(shlex.split(protected))


def _scan(text: str) -> tuple[bool, str]:
    """(does it need a shell?, the text with single-quoted dollars doubled)."""
    out: list[str] = []
    quote = ""  # the quote we are inside, if any
    words = 0  # words finished so far: an "=" in the first one is an assignment
    in_word = False
    i = 0
    while i < len(text):
        c = text[i]
        starts_word = not in_word and not quote
        if not quote and c.isspace():
            words += in_word
            in_word = False
            out.append(c)
            i += 1
            continue
        in_word = True
        if quote == "'":
            out.append("$$" if c == "$" else c)
            quote = "" if c == "'" else quote
        elif c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "$":  # an escaped dollar: literal, for procward as for a shell
                out.append("$$" if quote else "\\$$")
            else:
                out.append(c + nxt)
            i += 1
        elif quote == '"':
            if c == "`" or text.startswith("$(", i):
                return True, text
            out.append(c)
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
            out.append(c)
        elif (
            c in _OPERATORS
            or c in _GLOBS
            or text.startswith("$(", i)
            or (c == "~" and starts_word)
            or (c == "=" and words == 0)  # VAR=value cmd: an assignment for the command
        ):
            return True, text
        else:
            out.append(c)
        i += 1
    return False, "".join(out)
