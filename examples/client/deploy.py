"""Deploy step: reload an app without downtime, then wait until it is healthy.

    python examples/client/deploy.py web                 # this user's daemon
    python examples/client/deploy.py web --remote prod   # an alias of remotes.toml
    python examples/client/deploy.py web --timeout 120

Exit status 0 when every instance of the app runs new code and passes its
checks, 1 when it is still unwell at the deadline (its health is printed),
2 when the daemon refuses (no such app, a token below operator...).
"""

from __future__ import annotations

import argparse
import sys
import time

from procward import Client
from procward.kit import RpcError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app")
    parser.add_argument("--remote", help="an alias of ~/.config/procward/remotes.toml")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    with Client(remote=args.remote) as pw:  # no remote: this user's daemon
        try:
            before = {i.index: i.pid for i in pw.getApp(name=args.app).instances}
            pw.reloadApp(name=args.app)
        except RpcError as exc:
            print(f"deploy: {exc}", file=sys.stderr)
            return 2
        return wait_healthy(pw, args.app, before, time.monotonic() + args.timeout)


def wait_healthy(pw: Client, app: str, before: dict[int, int | None], deadline: float) -> int:
    """Poll until each instance is a new process and the app is healthy, or the deadline."""
    while True:
        view = pw.getApp(name=app)
        replaced = all(i.pid is not None and i.pid != before.get(i.index) for i in view.instances)
        health = pw.getHealth(name=app)
        if replaced and health.healthy:
            pids = ", ".join(str(i.pid) for i in view.instances)
            print(f"deploy: {app} reloaded and healthy (pids {pids})")
            return 0
        if time.monotonic() > deadline:
            for instance in health.apps[0].instances:
                print(
                    f"deploy: {app}:{instance.index} {instance.state} {instance.last_error or ''}"
                )
            return 1
        time.sleep(0.1)


if __name__ == "__main__":
    raise SystemExit(main())
