"""Hooks: what to run, or where to POST, when an instance crashes, exits, restarts or ails.

The supervisord ``[eventlistener:x]`` and the PM2 notification modules that
people install to be paged, built in (decision 0044). A hook is read from
``[hooks.<name>]`` (every app of the file, or those of its ``apps``) or
``[apps.<app>.hooks.<name>]`` (that app alone), and lives in each
``AppSpec`` it applies to: saved, reloaded and shown with the app, and
nothing of it is loaded by a daemon whose apps have none.

Pure: which hook events one state change of an instance is, which hooks
want it, and the JSON they get. Queues and retries are ``hooksqueue.py``;
running commands and posting webhooks is ``hooksrunner.py``.

The events, read from the instance's state changes (``machine.py``) with the
rule ``--exit-on`` uses (``exiton.py``), so "crashed" means one thing:

    started     starting -> running: a process began to serve
    exited      its process ended without being asked to, clean or not
    crashed     ... with a failure: a non-zero status, a signal, a failed
                spawn, or stopped for failing a check (one per crash)
    gave-up     ... and it will not be restarted: its restart budget spent
                (state "crashed"), or restart = "never" after a failure
    restarted   backoff -> starting: the restart policy started a new process
    unhealthy   running -> stopping because it failed: its health probe
                (``failures`` in a row) or ``max_memory``; "why" says which

One state change is several of these (a last crash is exited, crashed and
gave-up): a hook runs once for it, named by the most specific of them it
asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from procward.kit._durations import format_duration
from procward.kit._structs import Struct
from procward.supervision.values import (
    Nested,
    did_you_mean,
    read_cmd,
    read_duration,
    show,
    unknown_key,
)

if TYPE_CHECKING:
    from procward.supervision.events import Event
    from procward.supervision.secretrefs import SecretRef

__all__ = [
    "EVENTS",
    "Hook",
    "applying",
    "happened",
    "payload",
    "read_app_hooks",
    "read_file_hooks",
    "wanted",
]

# Most specific first: the name a hook is told when a change is several of them.
EVENTS = ("gave-up", "crashed", "exited", "restarted", "unhealthy", "started")
MAX_TIMEOUT = 600.0  # seconds: a hook is a notice, not a job
MAX_RETRIES = 10
RETRIES = {"url": 3, "run": 0}  # by default: an endpoint may be down a moment
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


class Hook(Struct):
    """One hook as it applies to an app: a command (``run``) or a webhook (``url``)."""

    name: str
    on: tuple[str, ...]
    run: tuple[str, ...] | None = None
    cwd: str | None = None  # of ``run``: the directory of the file that defines it
    url: str | SecretRef | None = None
    secret: str | SecretRef | None = None  # the HMAC key of the signature header
    headers: tuple[tuple[str, str | SecretRef], ...] = ()
    timeout: float = 10.0
    retries: int = 0

    @property
    def target(self) -> str:
        """What it runs or posts to, for the log and ``getHooks``: a URL's path left out."""
        if self.run is not None:
            return self.run[0]
        if not isinstance(self.url, str):
            return f"the url in secret {self.url.name!r}" if self.url is not None else "?"
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)  # a path may hold a token (Slack's do)
        return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else self.url

    def to_table(self) -> dict[str, Any]:
        """The table ``read_app_hooks`` turns back into this hook."""
        table: dict[str, Any] = {"on": list(self.on)}
        if self.run is not None:
            table["run"] = list(self.run)
            if self.cwd is not None:
                table["cwd"] = self.cwd
        else:
            table["url"] = _shown(self.url)
        if self.secret is not None:
            table["secret"] = _shown(self.secret)
        if self.headers:
            table["headers"] = {name: _shown(value) for name, value in self.headers}
        text = format_duration(self.timeout)
        table["timeout"] = text if read_duration(text, "") == self.timeout else self.timeout
        table["retries"] = self.retries
        return table


def _shown(value: str | SecretRef | None) -> object:
    return value if isinstance(value, str) or value is None else {"secret": value.name}


# -- which events a state change is, and who wants it ------------------------------------


def happened(event: Event, *, code: int | None, signal: int | None) -> tuple[str, ...]:
    """The hook events of one state change, most specific first (none: most changes).

    ``code`` and ``signal`` say how its process ended, for an exit.
    """
    from procward.supervision.exiton import ExitOn, container_exit
    from procward.supervision.machine import State

    _when, _app, _index, before, after, pid, why = event
    if (before, after) == ("starting", "running"):
        return ("started",)
    if (before, after) == ("backoff", "starting"):
        return ("restarted",)
    if (before, after) == ("running", "stopping"):
        return ("unhealthy",) if why is not None else ()  # an operator's stop has no why
    was, now = State(before), State(after)
    status = container_exit(
        ExitOn.ANY_EXIT, was, now, code=code, signal=signal, ran=pid is not None
    )
    if status is None:
        return ()
    if status == 0:
        return ("exited",)
    gave_up = container_exit(
        ExitOn.CRASHED, was, now, code=code, signal=signal, ran=pid is not None
    )
    return ("gave-up", "crashed", "exited") if gave_up else ("crashed", "exited")


def wanted(hook: Hook, names: tuple[str, ...]) -> str | None:
    """The name ``hook`` is told this change by (the first it asked for), or None."""
    return next((name for name in names if name in hook.on), None)


def payload(event: Event, name: str, hook: str, *, daemon: str, host: str) -> dict[str, Any]:
    """The JSON a hook gets: the event as ``procward events --json`` shows it, and whose."""
    from procward.supervision.events import as_dict

    return {**as_dict(event), "event": name, "hook": hook, "daemon": daemon, "host": host}


# -- reading [hooks.<name>] and [apps.<app>.hooks.<name>] --------------------------------


def read_app_hooks(value: object, base_dir: str) -> tuple[Hook, ...]:
    """An app's ``hooks`` table: name -> hook (no ``apps`` key: it is the app's own)."""
    return tuple(hook for hook, _apps in _read_hooks(value, base_dir, shared=False).values())


def read_file_hooks(value: object, base_dir: str) -> dict[str, tuple[Hook, tuple[str, ...] | None]]:
    """The file's ``[hooks]``: name -> (hook, the apps it is for; None: all of them)."""
    return _read_hooks(value, base_dir, shared=True)


def applying(
    shared: Mapping[str, tuple[Hook, tuple[str, ...] | None]], app: str, own: tuple[Hook, ...]
) -> tuple[Hook, ...]:
    """The hooks of ``app``: the file's that are for it, then its own (which win by name)."""
    mine = {hook.name for hook in own}
    found = [
        hook
        for hook, apps in shared.values()
        if hook.name not in mine and (apps is None or app in apps)
    ]
    return (*found, *own)


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
    from procward.supervision.appkeys import NAME_CHARS, NAME_START

    if not (0 < len(name) <= 64 and name[0] in NAME_START and set(name) <= NAME_CHARS):
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
            fields[key] = _READERS[key](item, base_dir)
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


def _url(value: object, _base_dir: str) -> str | SecretRef:
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


def _secret(value: object, _base_dir: str) -> str | SecretRef:
    if isinstance(value, Mapping):
        return _secret_ref(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f'must be a key (a string) or {{ secret = "NAME" }}, got {show(value)}')
    return value


def _headers(value: object, _base_dir: str) -> dict[str, str | SecretRef]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of Header = "value", got {show(value)}')
    found: dict[str, str | SecretRef] = {}
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


def _secret_ref(item: Mapping[Any, object]) -> SecretRef:
    from procward.supervision.secretrefs import SecretRef, check_secret_name

    if set(item) != {"secret"}:
        raise ValueError('must be a string, or { secret = "NAME" } to take it from a secret')
    return SecretRef(check_secret_name(item["secret"]))


def _cwd(value: object, base_dir: str) -> str:
    from procward.supervision.appkeys import READERS

    return str(READERS["cwd"](value, base_dir))


def _timeout(value: object, base_dir: str) -> float:
    seconds = read_duration(value, base_dir)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(f"must be more than 0s and at most 10m, got {show(value)}")
    return seconds


def _retries(value: object, _base_dir: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise ValueError(f"must be an integer from 0 to {MAX_RETRIES}, got {show(value)}")
    return value


_READERS = {
    "on": _events,
    "apps": _apps,
    "run": read_cmd,
    "cwd": _cwd,
    "url": _url,
    "secret": _secret,
    "headers": _headers,
    "timeout": _timeout,
    "retries": _retries,
}
