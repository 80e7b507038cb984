"""Which values are secrets, and their masked, bounded stand-ins (pure, no I/O).

One rule for every place that shows what a client sent or what an app runs
with: ``getEnv``/``inspect`` for roles below admin, and the audit log for
everyone. A name is secret when one of its words (split at ``_ - .`` and at
camelCase humps, compared in upper case):

- contains TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL or PRIVATE;
- is PASS (``DB_PASS``);
- contains AUTH, except AUTHOR(S) (``GIT_AUTHOR_NAME`` is not a secret,
  ``AUTHORIZATION`` and ``OAUTH_…`` are);
- is KEY(S) or ends in it (``API_KEY``, ``APIKEY``, ``awsAccessKey``), which
  leaves ``KEYBOARD`` and ``KEYMAP`` alone.

Masking too much costs a reader a value they could ask an admin for; too
little leaks a credential, so the rule leans to masking (``SSH_KEY_PATH`` is
masked). Any value that is a URL with a password (``postgres://u:pw@db/x``)
keeps all but the password.

``bounded`` makes a small copy of client-sent params, so that what the audit
log holds in memory and on disk is bounded whatever a client sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MASK = "***"
MAX_STRING = 200  # characters of one string or key kept; the rest becomes "…"
MAX_ITEMS = 50  # items of one list or object kept
MAX_DEPTH = 6  # containers within containers
MAX_NODES = 500  # values in all, whatever the shape
URL_SCAN = 4096  # characters of a string searched for a URL password before it is cut

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SECRET_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE")
_NOT_AUTH = frozenset({"AUTHOR", "AUTHORS"})
_HINTS = ("TOKEN", "SECRET", "PASS", "CREDENTIAL", "PRIVATE", "AUTH", "KEY")
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*):[^\s/?#]*@")


def is_secret_name(name: str) -> bool:
    """Does ``name`` (an environment variable, a param) look like it holds a secret?"""
    upper = name.upper()
    if not any(hint in upper for hint in _HINTS):  # most names: no need to split
        return False
    return any(_secret_word(word.upper()) for word in _WORDS.findall(name))


def _secret_word(word: str) -> bool:
    if any(part in word for part in _SECRET_PARTS):
        return True
    if word == "PASS" or word.endswith(("KEY", "KEYS")):
        return True
    return "AUTH" in word and word not in _NOT_AUTH


def masked_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it masked."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(rf"\1:{MASK}@", text)


def masked_value(name: str, value: str) -> str:
    """What a reader below admin sees of variable ``name`` set to ``value``."""
    return MASK if value and is_secret_name(name) else masked_url_passwords(value)


def masked_env(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``env`` with secret values masked, and the names whose values were changed."""
    shown = {name: masked_value(name, value) for name, value in env.items()}
    return shown, sorted(name for name, value in env.items() if shown[name] != value)


def bounded(params: Any, positional: Sequence[str] | None = None) -> Any:
    """A small, masked copy of JSON ``params``, safe to keep and to write down.

    Values under a secret-looking key are masked, and so are the items of a
    list of positional params whose parameter (``positional``, in order) has
    a secret-looking name, or no name at all (``None``: ``params`` are not
    a call's, so a list is just a list). Strings are cut to
    ``MAX_STRING`` characters, containers to ``MAX_ITEMS`` items and
    ``MAX_DEPTH`` levels, and everything to ``MAX_NODES`` values; what is
    cut off is said in a string ending in ``…``.
    """
    budget = [MAX_NODES]
    if positional is not None and isinstance(params, list | tuple):
        names = list(positional)
        items = [
            MASK if i >= len(names) or is_secret_name(names[i]) else _copy(v, 1, budget)
            for i, v in enumerate(params[: _kept(len(params))])
        ]
        return _with_rest(items, len(params), budget)
    return _copy(params, 0, budget)


def _copy(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return "…"
    if isinstance(value, str):
        return _cut(masked_url_passwords(value[:URL_SCAN]))  # never a scan of a megabyte
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(10**18) < value < 10**18 else "<a very large number>"
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        return _copy_mapping(value, depth, budget)
    if isinstance(value, list | tuple):
        items = [_copy(v, depth + 1, budget) for v in value[: _kept(len(value))]]
        return _with_rest(items, len(value), budget)
    return _cut(f"<{type(value).__name__}>")


def _copy_mapping(value: Mapping[Any, Any], depth: int, budget: list[int]) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    kept = _kept(len(value))
    for n, (key, item) in enumerate(value.items()):
        if n >= kept:
            copied["…"] = _note(f"{len(value) - kept} more keys", budget)
            break
        name = _cut(key if isinstance(key, str) else repr(key))
        copied[name] = MASK if is_secret_name(name) else _copy(item, depth + 1, budget)
    return copied


def _kept(length: int) -> int:
    """How many of ``length`` items a copy keeps: all, or room for the note of the rest
    within ``MAX_ITEMS`` (so a copy of a copy is the same copy)."""
    return length if length <= MAX_ITEMS else MAX_ITEMS - 1


def _with_rest(items: list[Any], length: int, budget: list[int]) -> list[Any]:
    if length > len(items):
        items.append(_note(f"… {length - len(items)} more items", budget))
    return items


def _note(text: str, budget: list[int]) -> str:
    """A note of what was cut, a value like any other: it takes its share of the budget,
    as it will when a copy is copied again (so that a copy of a copy is the same copy)."""
    budget[0] -= 1
    return text if budget[0] >= 0 else "…"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"
