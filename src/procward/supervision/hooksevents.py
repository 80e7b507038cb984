"""Which hook events one state change of an instance is, which hooks want it, what they get.

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
asked for (``EVENTS`` is in that order). An operator's stop or restart is
none of them. Pure.
"""

from __future__ import annotations

from typing import Any

from procward.supervision.events import Event, as_dict
from procward.supervision.exiton import ExitOn, container_exit
from procward.supervision.hooks import Hook
from procward.supervision.machine import State

__all__ = ["happened", "payload", "wanted"]


def happened(event: Event, *, code: int | None, signal: int | None) -> tuple[str, ...]:
    """The hook events of one state change, most specific first (none: most changes).

    ``code`` and ``signal`` say how its process ended, for an exit.
    """
    _when, _app, _index, before, after, pid, why = event
    if (before, after) == ("starting", "running"):
        return ("started",)
    if (before, after) == ("backoff", "starting"):
        return ("restarted",)
    if (before, after) == ("running", "stopping"):
        return ("unhealthy",) if why is not None else ()  # an operator's stop has no why
    was, now, ran = State(before), State(after), pid is not None
    status = container_exit(ExitOn.ANY_EXIT, was, now, code=code, signal=signal, ran=ran)
    if status is None:
        return ()
    if status == 0:
        return ("exited",)
    gave_up = container_exit(ExitOn.CRASHED, was, now, code=code, signal=signal, ran=ran)
    return ("gave-up", "crashed", "exited") if gave_up else ("crashed", "exited")


def wanted(hook: Hook, names: tuple[str, ...]) -> str | None:
    """The name ``hook`` is told this change by (the first it asked for), or None."""
    return next((name for name in names if name in hook.on), None)


def payload(event: Event, name: str, hook: str, *, daemon: str, host: str) -> dict[str, Any]:
    """The JSON a hook gets: the event as ``procward events --json`` shows it, and whose."""
    return {**as_dict(event), "event": name, "hook": hook, "daemon": daemon, "host": host}
