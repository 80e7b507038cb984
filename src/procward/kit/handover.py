"""In-place upgrade: a daemon replaces its own program and keeps what it holds.

The daemon ``execv``s the (new) program with the same pid, so its children
stay its children, and passes across the exec the descriptors that matter:
the instance lock (the same locked open file, so the instance is never free
for a moment), the listening socket (clients that connect meanwhile wait in
its backlog instead of being refused) and whatever the subclass adds (pipes
of its children, sockets it holds for them). What they are goes in a small
JSON file named by ``<PREFIX>_HANDOVER`` in the new program's environment;
the new program reads it, removes it, and adopts the descriptors.

Before it lets go of anything the old program runs the new one's
pre-flight (``argv + [--check]`` by default): a new version that cannot even
start is refused while the old one keeps serving.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from procward.kit.atomic import write_atomic

FORMAT = 1


def env_name(prefix: str) -> str:
    return f"{prefix.upper()}_HANDOVER"


def preflight(argv: list[str], timeout: float = 60.0) -> str | None:
    """Run ``argv``; None if it exits 0, else what went wrong, for people."""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).strip().splitlines()
    return said[-1] if said else f"exit status {done.returncode}"


def write(path: str, data: dict[str, Any], fds: list[int]) -> None:
    """Save ``data`` for the next program and let ``fds`` survive the exec."""
    write_atomic(path, json.dumps({"format": FORMAT, **data}).encode())
    for fd in fds:
        os.set_inheritable(fd, True)


def take(prefix: str) -> dict[str, Any] | None:
    """What the previous program handed over, if this one was exec'd by it.

    The file and the variable are removed: a daemon started later by other
    means must not adopt stale descriptors. Every descriptor taken over is
    made close-on-exec again by its adopter.
    """
    path = os.environ.pop(env_name(prefix), None)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    finally:
        os.unlink(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a handover of format {FORMAT}")
    return data
