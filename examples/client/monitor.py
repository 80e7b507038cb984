"""An asyncio monitor: restart an app whose instance crashed or exited, and say so.

    python examples/client/monitor.py                   # every app, until Ctrl-C
    python examples/client/monitor.py --app web --limit 3

Each event of the daemon comes as a notification; an instance that reaches
``crashed`` (its restart budget spent) or ``exited`` is restarted with
``restartApp``, once per event. ``--limit N`` stops after N restarts (for a
test, or a cron job's bounded run).
"""

from __future__ import annotations

import argparse
import asyncio

from procward import AsyncClient
from procward.reports import Event

DOWN = {"crashed", "exited"}


async def monitor(app: str | None, limit: int | None) -> int:
    restarts = 0
    async with AsyncClient() as pw, pw.followEvents(name=app) as events:
        async for note in events:
            if note.method == "following":
                print(f"monitor: watching {note.params['events']}", flush=True)
            if note.method != "event":
                continue
            event = Event.from_dict(note.params)
            if event.to not in DOWN:
                continue
            print(f"monitor: {event.app}:{event.instance} {event.to}; restarting", flush=True)
            await pw.restartApp(name=event.app)
            restarts += 1
            if limit is not None and restarts >= limit:
                break
    return restarts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", help="one app (default: all)")
    parser.add_argument("--limit", type=int, help="stop after this many restarts")
    args = parser.parse_args(argv)
    try:
        restarts = asyncio.run(monitor(args.app, args.limit))
    except KeyboardInterrupt:
        return 0
    print(f"monitor: {restarts} restart{'s' if restarts != 1 else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
