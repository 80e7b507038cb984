"""Hooks: what to run, or where to POST, when an instance crashes, exits, restarts or ails.

The supervisord ``[eventlistener:x]`` and the PM2 notification modules that
people install to be paged, built in (decision 0044). A hook is read from
``[hooks.<name>]`` (every app of the file, or those of its ``apps``) or
``[apps.<app>.hooks.<name>]`` (that app alone), and lives in each
``AppSpec`` it applies to: saved, reloaded and shown with the app, and
nothing of it is loaded by a daemon whose apps have none.

Pure: what a hook is. Reading and checking its keys is ``hookskeys.py``;
which state changes it is told of and what it gets, ``hooksevents.py``;
queues and retries, ``hooksqueue.py``; running commands and posting
webhooks, ``hooksrunner.py``.

A value that would be a credential in the file (a webhook's ``url`` with a
token in its path, its ``secret``, a header) may be ``{ secret = "name" }``
instead: a ``FromSecret``, read from the secret store at each delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from procward.kit._durations import format_duration
from procward.kit._structs import Struct
from procward.supervision.values import read_duration

__all__ = ["EVENTS", "FromSecret", "Hook", "applying", "masked"]

# Most specific first: the name a hook is told when a change is several of them.
EVENTS = ("gave-up", "crashed", "exited", "restarted", "unhealthy", "started")
RETRIES = {"url": 3, "run": 0}  # by default: an endpoint may be down a moment


class FromSecret(Struct):
    """``{ secret = "name" }``: a value taken from the secret store when it is used."""

    name: str


class Hook(Struct):
    """One hook as it applies to an app: a command (``run``) or a webhook (``url``)."""

    name: str
    on: tuple[str, ...]
    run: tuple[str, ...] | None = None
    cwd: str | None = None  # of ``run``: the directory of the file that defines it
    url: str | FromSecret | None = None
    secret: str | FromSecret | None = None  # the HMAC key of the signature header
    headers: tuple[tuple[str, str | FromSecret], ...] = ()
    timeout: float = 10.0
    retries: int = 0

    @property
    def target(self) -> str:
        """What it runs or posts to, for the log and ``getHooks``: a URL's path left out."""
        if self.run is not None:
            return self.run[0]
        if not isinstance(self.url, str):
            return f"the url in secret {self.url.name!r}" if self.url is not None else "?"
        return _pathless(self.url)

    def to_table(self) -> dict[str, Any]:
        """The table ``hookskeys.read_app_hooks`` turns back into this hook."""
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


def _shown(value: str | FromSecret | None) -> object:
    return value if isinstance(value, str) or value is None else {"secret": value.name}


def _pathless(url: str) -> str:
    """``url`` without its path and query, which may hold a token (Slack's do)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") or parts.query else url


def masked(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Hooks' tables (``to_table``) as a role below admin sees them in ``inspect``.

    A literal ``secret`` and the values of headers with secret-looking names
    are masked as ``env`` values are (``kit._masking``), a URL loses its path;
    secret references show, as they hold only a name.
    """
    from procward.kit._masking import MASK, masked_value

    shown: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        view = dict(table)
        if isinstance(view.get("url"), str):
            view["url"] = _pathless(view["url"])
        if isinstance(view.get("secret"), str):
            view["secret"] = MASK
        if isinstance(view.get("headers"), Mapping):
            view["headers"] = {
                key: masked_value(key, value) if isinstance(value, str) else value
                for key, value in view["headers"].items()
            }
        shown[name] = view
    return shown


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
