"""``procward dashboard``: a link to the web dashboard, holding a short-lived token.

The daemon serves the dashboard on its HTTP listener; this turns that on for
loopback when it is off (``127.0.0.1:9800``, or a free port if that one is
taken), asks for a viewer or operator token that ends soon, and opens (or,
with ``--print-url``, prints) ``http://127.0.0.1:PORT/#token=...``. The token
rides in the fragment, which a browser never sends: it is in no HTTP request
line, so in no log; the page moves it to session storage and out of the URL
at once. The browser is not given that link on its command line, which any
local user may read (``/proc/PID/cmdline``) for as long as the browser runs:
it opens ``handoff.html``, a 0600 page in the instance's private runtime
directory that forwards to the link.
"""

from __future__ import annotations

import os
import sys

from procward.cli.connection import connect
from procward.cli.options import DashboardArgs
from procward.cli.render import as_json
from procward.kit._errors import InvalidParams
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: this module is on the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any

    from procward.kit._client import Client

LOOPBACK = "127.0.0.1:9800"  # the port the docs suggest; any free one if it is taken


def cmd_dashboard(args: DashboardArgs, paths: InstancePaths) -> int:
    with connect(paths) as client:
        network = client.call("getNetwork")
        address, note = _listening(client, network)
        made = client.call("createToken", role=args.role, ttl=args.ttl, subject="dashboard")
    scheme = "https" if (network.get("tls") or {}).get("serving") else "http"
    url = f"{scheme}://{_reachable(address)}/#token={made['token']}"
    if note:
        print(note, file=sys.stderr)
    if args.json:  # for a program: the link, no browser
        as_json({"url": url, "role": args.role, "expires": made["expires"], "http": address})
        return 0
    if args.print_url or not _opened(handoff_page(url, paths)):
        print(url)
        return 0
    print(f"opened the dashboard in your browser ({args.role}, until the token ends in {args.ttl})")
    return 0


def _listening(client: Client, network: dict[str, Any]) -> tuple[str, str | None]:
    """Where HTTP listens, turning it on for loopback first if it is off; and a note if so."""
    address = network["addresses"].get("http")
    if address:
        return address, None
    try:
        changed = client.call("setNetwork", http=LOOPBACK)
    except InvalidParams:  # 9800 is taken: any free port
        changed = client.call("setNetwork", http="127.0.0.1:0")
    address = changed["addresses"]["http"]
    return address, f"HTTP now listens on {address} (turn it off with: procward network --off)"


def _reachable(address: str) -> str:
    """``address`` as a browser on this machine reaches it (a wildcard is loopback)."""
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", ""):
        return f"127.0.0.1:{port}"
    if host == "[::]":
        return f"[::1]:{port}"
    return address


def handoff_page(url: str, paths: InstancePaths) -> str:
    """A 0600 page that forwards the browser to ``url``; its ``file://`` URL (no token)."""
    from html import escape

    from procward.kit._atomic import write_atomic

    target = escape(url, quote=True)
    page = (
        '<!doctype html><meta charset="utf-8"><title>procward dashboard</title>'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        f'<a href="{target}">Open the procward dashboard</a>\n'
    )
    path = os.path.join(paths.runtime_dir, "handoff.html")
    write_atomic(path, page.encode(), mode=0o600)
    return "file://" + path


def _opened(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False
