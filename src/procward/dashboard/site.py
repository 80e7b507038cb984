"""The dashboard's pages: the one HTML page, its assets, and its two streams.

The page holds no data, so it needs no token: ``/`` and ``/app/NAME`` (a
deep link the page reads) are the same file. Every response carries a
strict Content-Security-Policy — scripts and styles from this origin only,
nothing inline, no framing — so text an app prints can never run, even if a
bug in the page ever put it into markup.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from procward.dashboard import live
from procward.kit._http import Reply, Stream

if TYPE_CHECKING:
    from procward.kit._rpc import Peer, Registry

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SAFETY = (
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)
# The page is small and changes with the daemon: revalidate, never serve it stale.
# Assets may be cached briefly; an upgrade changes them at most every few minutes.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "max-age=300"
STREAM_CACHE = "no-store"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.(js|css|svg)")
# Files next to this module (procward installs as files, never zipped):
# os.path, not importlib.resources, which costs the daemon 25 ms more to load.
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class Site:
    """Answers the dashboard's paths; ``registry`` is what its data calls go through."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def respond(self, peer: Peer, target: str) -> Reply | Stream:
        path, _, query = target.partition("?")
        if path == "/" or path.startswith("/app/"):
            return self._file("index.html", "text/html; charset=utf-8", PAGE_CACHE)
        if path.startswith("/assets/"):
            return self._asset(path.removeprefix("/assets/"))
        if path == "/events/stream":
            return self._stream(live.events(self.registry, peer))
        if path == "/logs/stream":
            return self._stream(live.logs(self.registry, peer, app_asked(query)))
        return page_error(404, "not found")

    def _asset(self, name: str) -> Reply:
        kind = ASSET_NAME.fullmatch(name)
        if kind is None:  # no "..", no subdirectories, no dotfiles
            return page_error(404, "not found")
        return self._file(f"assets/{name}", TYPES["." + kind.group(1)], ASSET_CACHE)

    def _file(self, name: str, content_type: str, cache: str) -> Reply:
        try:
            with open(os.path.join(STATIC, name), "rb") as f:
                body = f.read()
        except OSError:
            return page_error(404, "not found")
        return Reply(200, body, content_type, (*SAFETY, ("cache-control", cache)))

    def _stream(self, chunks: live.Frames) -> Stream:
        return Stream(chunks, headers=(*SAFETY, ("cache-control", STREAM_CACHE)))


def app_asked(query: str) -> str:
    """The ``app`` of a query string ("app=web"), decoded; "" if none."""
    from urllib.parse import parse_qs

    return parse_qs(query).get("app", [""])[0]


def page_error(status: int, message: str) -> Reply:
    body = f'{{"error": "{message}"}}\n'.encode()
    return Reply(status, body, headers=(*SAFETY, ("cache-control", STREAM_CACHE)))
