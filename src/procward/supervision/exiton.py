"""``--exit-on``: which change of an instance ends a foreground daemon, and with what status.

In a container the supervisor is the container: when an app gives up, the
container should end, so that an orchestrator restarts (or reports) it,
rather than run on without the app. Pure: a state change of one instance
and how its process ended come in, the daemon's exit status (or None: it
runs on) goes out.

    never      runs on, whatever happens (a service manager's daemon).
    crashed    an instance gave up: ``crashed`` (its restart budget spent),
               or ``exited`` after a failure (``restart = "never"`` and a
               non-zero status, a signal, a failed start or probe). Status 1.
               A clean exit (a job done) does not end it.
    any-exit   any instance that ends on its own, restarted or not (compose's
               ``--abort-on-container-exit``). Status 0 if every such exit
               was clean (status 0), else 1: the daemon keeps the worst of
               the exits it sees until it has stopped the rest.

An instance that procward stops (an operator's ``stop``, the shutdown that
follows) goes ``stopping -> stopped`` and never counts.
"""

from __future__ import annotations

import enum

from procward.supervision.machine import State

__all__ = ["ExitOn", "container_exit"]


class ExitOn(enum.StrEnum):
    CRASHED = "crashed"
    ANY_EXIT = "any-exit"
    NEVER = "never"


# The states an instance reaches when its process ended without being asked to.
_ENDED = frozenset({State.BACKOFF, State.EXITED, State.CRASHED})


def container_exit(
    mode: ExitOn,
    before: State,
    after: State,
    *,
    code: int | None,
    signal: int | None,
    ran: bool,
) -> int | None:
    """The exit status this change calls for, or None when the daemon runs on.

    ``code`` and ``signal``: how the process ended (``signal`` when killed);
    ``ran``: there was a process (False when the spawn itself failed).
    """
    if mode is ExitOn.NEVER or after not in _ENDED:
        return None
    # Out of "stopping" into one of these: stopped by procward because it failed
    # (not ready in time, unhealthy); however it answered the signal, a failure.
    failed = before is State.STOPPING or not ran or signal is not None or code != 0
    if mode is ExitOn.CRASHED:
        gave_up = after is State.CRASHED or (after is State.EXITED and failed)
        return 1 if gave_up else None
    return 1 if failed else 0
