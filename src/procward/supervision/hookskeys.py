"""Reading hooks' tables (``[hooks.<name>]``, ``hooks.<name>`` of an app) into ``Hook``s.

As ``appkeys.py`` is for an app's keys: each key has a reader that takes
``(value, base_dir)`` and returns the field it becomes, or raises
``ValueError`` (``Nested`` for a table's sub-keys) quoting the value as
TOML spells it; every problem of every hook is collected, located by its
key path (``hooks.pager.on``), for ``config.py`` to report at once.
Loaded only by a file that has hooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from procward.supervision.hooks import EVENTS, RETRIES, FromSecret, Hook
from procward.supervision.values import (
    Nested,
    did_you_mean,
    read_cmd,
    read_duration,
    read_path,
    show,
    unknown_key,
)

__all__ = ["READERS", "check_url", "read_app_hooks", "read_file_hooks"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # of a hook, and of a secret
MAX_TIMEOUT = 600.0  # seconds: a hook is a notice, not a job
MAX_RETRIES = 10
# Set by procward on every POST; a hook's own headers may not replace them.
OWN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "user-agent",
        "x-procward-event",
        "x-procward-delivery",
        "x-procward-timestamp",
        "x-procward-signature",
    }
)


def read_app_hooks(value: object, base_dir: str) -> tuple[Hook, ...]:
    """An app's ``hooks`` table: name -> hook (no ``apps`` key: it is the app's own)."""
    return tuple(hook for hook, _apps in _read_hooks(value, base_dir, shared=False).values())


def read_file_hooks(value: object, base_dir: str) -> dict[str, tuple[Hook, tuple[str, ...] | None]]:
    """The file's ``[hooks]``: name -> (hook, the apps it is for; None: all of them)."""
    return _read_hooks(value, base_dir, shared=True)


_KEYS = ("on", "apps", "run", "cwd", "url", "secret", "headers", "timeout", "retries")


def _read_hooks(
    value: object, base_dir: str, *, shared: bool
) -> dict[str, tuple[Hook, tuple[str, ...] | None]]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table of hooks ([hooks.<name>]), got {show(value)}")
    found = {}
    problems: list[tuple[str, str]] = []
    for name, table in value.items():
        try:
            found[name] = _read_hook(name, table, base_dir, shared=shared)
        except Nested as e:
            problems += [(f"{name}.{key}", message) for key, message in e.problems]
        except ValueError as e:
            problems.append((name, str(e)))
    if problems:
        raise Nested(problems)
    return found


def _read_hook(
    name: str, table: object, base_dir: str, *, shared: bool
) -> tuple[Hook, tuple[str, ...] | None]:
    if not NAME.fullmatch(name):
        raise ValueError("is not a hook name: 1-64 letters, digits, '_', '-' or '.'")
    if not isinstance(table, Mapping):
        raise ValueError(
            f'must be a table like {{ on = ["crashed"], run = "..." }}, got {show(table)}'
        )
    keys = _KEYS if shared else tuple(k for k in _KEYS if k != "apps")
    fields: dict[str, Any] = {}
    problems = []
    for key, item in table.items():
        if key not in keys:
            problems.append((key, unknown_key(key, keys, "a hook")))
            continue
        try:
            fields[key] = READERS[key](item, base_dir)
        except Nested as e:
            problems += [(f"{key}.{sub}", message) for sub, message in e.problems]
        except ValueError as e:
            problems.append((key, str(e)))
    problems += _whole_hook_problems(table)
    if problems:
        raise Nested(problems)
    apps = fields.pop("apps", None)
    kind = "run" if "run" in fields else "url"
    fields.setdefault("retries", RETRIES[kind])
    if kind == "run":
        fields.setdefault("cwd", base_dir)
    fields["headers"] = tuple(fields.get("headers", {}).items())
    return Hook(name, **fields), apps


def _whole_hook_problems(table: Mapping[str, object]) -> list[tuple[str, str]]:
    """What a hook lacks or mixes: exactly one of run and url; url-only keys with run."""
    if "on" not in table:
        return [("on", f"missing: the events to act on, some of {', '.join(EVENTS)}")]
    if "run" in table and "url" in table:
        return [("url", "a hook has run (a command) or url (a webhook), not both")]
    if "run" not in table and "url" not in table:
        return [("run", "missing: run (a command) or url (a webhook to POST to)")]
    if "run" in table:
        return [(key, "is for a url hook only") for key in ("secret", "headers") if key in table]
    return [("cwd", "is for a run hook only")] if "cwd" in table else []


def _events(value: object, _base_dir: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f'must be an array of events like ["crashed"], got {show(value)}')
    for item in value:
        if not isinstance(item, str) or item not in EVENTS:
            hint = did_you_mean(item, EVENTS) if isinstance(item, str) else ""
            raise ValueError(
                f"unknown event {show(item)}{hint}; the events are: {', '.join(EVENTS)}"
            )
    return tuple(dict.fromkeys(value))


def _apps(value: object, _base_dir: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f'must be an array of app names like ["web"], got {show(value)}')
    return tuple(dict.fromkeys(value))


def _url(value: object, _base_dir: str) -> str | FromSecret:
    """An http(s) URL, or ``{ secret = "name" }`` for one with a token in it (Slack's)."""
    if isinstance(value, Mapping):
        return _secret_ref(value)
    if not isinstance(value, str):
        raise ValueError(f"must be an http or https URL, got {show(value)}")
    return check_url(value)


def check_url(value: str) -> str:
    """``value`` if it is a URL procward can POST to, else ``ValueError`` saying why."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"is not a URL: {show(value)} ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"must be an http or https URL like 'https://host/path', got {show(value)}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold a user or password: put them in headers (Authorization)")
    if port == 0 or any(c in value for c in "\r\n\0 "):
        raise ValueError(f"is not a URL procward can post to: {show(value)}")
    return value


def _secret(value: object, _base_dir: str) -> str | FromSecret:
    if isinstance(value, Mapping):
        return _secret_ref(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f'must be a key (a string) or {{ secret = "NAME" }}, got {show(value)}')
    return value


def _headers(value: object, _base_dir: str) -> dict[str, str | FromSecret]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of Header = "value", got {show(value)}')
    found: dict[str, str | FromSecret] = {}
    problems = []
    for name, item in value.items():
        if not name or not all(c.isalnum() or c in "-_!#$%&'*+.^`|~" for c in name):
            problems.append((name, "is not a header name"))
        elif name.lower() in OWN_HEADERS:
            problems.append((name, "is set by procward itself"))
        elif isinstance(item, Mapping):
            try:
                found[name] = _secret_ref(item)
            except ValueError as e:
                problems.append((name, str(e)))
        elif not isinstance(item, str) or any(c in item for c in "\r\n\0"):
            problems.append(
                (name, f'must be one line of text or {{ secret = "NAME" }}, got {show(item)}')
            )
        else:
            found[name] = item
    if problems:
        raise Nested(problems)
    return found


def _secret_ref(item: Mapping[Any, object]) -> FromSecret:
    if set(item) != {"secret"}:
        raise ValueError('must be a string, or { secret = "NAME" } to take it from a secret')
    name = item["secret"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"{show(name)} is not a secret name: 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return FromSecret(name)


def _timeout(value: object, base_dir: str) -> float:
    seconds = read_duration(value, base_dir)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(f"must be more than 0s and at most 10m, got {show(value)}")
    return seconds


def _retries(value: object, _base_dir: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise ValueError(f"must be an integer from 0 to {MAX_RETRIES}, got {show(value)}")
    return value


READERS: dict[str, Callable[[object, str], object]] = {
    "on": _events,
    "apps": _apps,
    "run": read_cmd,
    "cwd": read_path,
    "url": _url,
    "secret": _secret,
    "headers": _headers,
    "timeout": _timeout,
    "retries": _retries,
}
