"""CI job: start a stack from its procward.toml and wait for a line in an app's output.

    python examples/client/ci_logs.py procward.toml api "listening on"
    python examples/client/ci_logs.py procward.toml api "listening on" --timeout 30

The stack runs in the daemon of an instance of its own (``--instance``,
``ci`` by default), so a CI machine's other daemons are left alone. Exit
status 0 when the line appears (printed), 1 at the deadline (the app's last
lines are printed), 2 when the config is refused.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterable
from types import FrameType

from procward import Client, Notification
from procward.kit import RpcError


class Deadline(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("app")
    parser.add_argument("text", help="the text a line must contain")
    parser.add_argument("--instance", default="ci")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    with Client(instance=args.instance) as pw:
        # Follow first, then start: no line can come between the two.
        with pw.followLogs(name=None) as logs:
            try:
                pw.loadConfig(path=os.path.abspath(args.config))
            except RpcError as exc:
                print(f"ci: {exc}", file=sys.stderr)
                return 2
            found = wait_for_line(logs, args.app, args.text, args.timeout)
        if found is None:
            for entry in pw.getLogs(name=args.app, lines=20):
                print("\n".join(f"{args.app}:{entry.instance} | {line}" for line in entry.lines))
            print(f"ci: no line with {args.text!r} within {args.timeout:g}s", file=sys.stderr)
            return 1
        print(f"ci: {args.app} said: {found}")
        return 0


def wait_for_line(logs: Iterable[Notification], app: str, text: str, timeout: float) -> str | None:
    """The first line of ``app`` containing ``text``, or None after ``timeout`` seconds.

    A stream blocks until the daemon sends something: the deadline is a timer
    signal, whose exception ends the loop (and the ``with`` closes the stream).
    """

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Deadline

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    pending: dict[tuple[int, str], str] = {}  # a line may come in more than one chunk
    try:
        for note in logs:
            if note.method != "log" or note.params["app"] != app:
                continue
            where = (note.params["instance"], note.params["stream"])
            data: str = pending.get(where, "") + note.params["data"]
            *lines, pending[where] = data.split("\n")
            for line in lines:
                if text in line:
                    return line
    except Deadline:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
