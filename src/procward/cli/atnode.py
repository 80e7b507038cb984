"""``procward @NODE <command>``: any command, run on another node of the fleet.

The local daemon (over its Unix socket, or ``$PROCWARD_CONNECT`` with
``$PROCWARD_TOKEN``, as every command) is asked where ``NODE`` listens and
for a fleet token of the caller's own role, valid 60 s (``fleetAddress``).
The rest of the command line then runs as with ``--connect ADDRESS``: over
``NODE``'s TCP listener, TLS when ``--ca-file``/``--client-cert`` say so, with
that token. ``NODE`` checks it against the fleet key, so roles hold there
exactly as here; a caller never gets more than it has.

Resolution order: an alias of remotes.toml first (``cli/remote.py``), else a
fleet node.
"""

from __future__ import annotations

import os

from procward.cli.connection import connect, fail
from procward.kit._errors import KitError, NotRunning
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: on the CLI's path
if TYPE_CHECKING:
    from collections.abc import Callable


def on_node(
    argv: list[str],
    paths: InstancePaths,
    run: Callable[[list[str]], int],
    not_an_alias: str | None = None,
) -> int:
    """Run the command after ``@NODE`` on ``NODE``; its exit status.

    ``not_an_alias``: what to say first when ``NODE`` is not a node either (the
    name was looked up in remotes.toml before).
    """
    said = f"{not_an_alias}, nor a node of the fleet: " if not_an_alias else ""
    # A name that is neither an alias nor a node is a usage error (2); a fleet that
    # cannot answer now is not (1), nor a daemon that is not running (3) for a node.
    try:
        rest = run_on_node(argv, paths)
    except NotRunning:
        if not_an_alias:  # no local daemon to ask: not a node that can be reached either
            return fail(not_an_alias, 2)
        return fail("procward is not running here: @NODE asks the local daemon", 3)
    except (KitError, OSError, ValueError) as exc:
        unavailable = str(exc).startswith("fleet unavailable")
        return fail(f"{said}{exc}", 2 if said and not unavailable else 1)
    return run(rest)


def run_on_node(argv: list[str], paths: InstancePaths) -> list[str]:
    """``argv`` without its ``@NODE``; the environment now points at ``NODE``.

    Raises what connecting raises (``NotRunning``, an ``RpcError`` such as
    "fleet unavailable: ..." or "no node 'x' in the fleet").
    """
    node = argv[0][1:]
    if not node:
        raise ValueError("@ needs a node's name: procward @web-2 status")
    with connect(paths, spawn=False) as client:
        reply = client.call("fleetAddress", {"node": node})
    os.environ["PROCWARD_CONNECT"] = str(reply["address"])
    os.environ["PROCWARD_TOKEN"] = str(reply["token"])
    return argv[1:]
