"""An app: one definition (``AppSpec``), its instances, and what it holds for them.

The supervisor keeps one ``App`` per name. It owns the app's ``Instance``
objects, the waiters of operations on it (only this app's changes re-check
them), its log directory and listening sockets (made once, kept across
restarts), and the views ``status`` and ``getHealth`` report. The state
groups below are the conditions operations wait for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.kit._errors import KitError
from procward.kit._paths import ensure_private_dir
from procward.supervision.config import MAX_INSTANCES
from procward.supervision.instance import NONE, Instance
from procward.supervision.machine import AT_REST, State
from procward.supervision.spec import AppSpec
from procward.supervision.uptime import DOWN, PARTIAL, UP

if TYPE_CHECKING:
    from procward.supervision.host import Host
    from procward.supervision.sockets import HeldSockets

__all__ = [
    "RESTARTED",
    "SERVING",
    "SETTLED",
    "STARTED",
    "STOP_SLACK",
    "App",
    "serving",
    "settled",
]

log = logging.getLogger("procward.supervision")

SETTLED = frozenset({State.RUNNING, State.BACKOFF, *AT_REST})  # no longer starting (see settled)
STARTED = frozenset({State.STARTING, State.RUNNING, State.BACKOFF, *AT_REST})  # spawned or failed
RESTARTED = STARTED - {State.STOPPED}
SERVING = frozenset({State.STARTING, State.RUNNING})

# How long an operation waits for a stop beyond the app's stop_timeout: the KILL
# is sent at stop_timeout, and its exit must still be reaped (and, on a loaded
# machine, the loop get its turn). A stop that outlasts this is reported as a
# Timeout rather than waited for forever.
STOP_SLACK = 5.0


class App:
    def __init__(self, host: Host, spec: AppSpec, source: str, desired: bool) -> None:
        self.host = host
        self.spec = spec
        self.source = source  # the config file it came from, or "cli" for ad-hoc apps
        self._desired = desired  # should it be running (survives daemon restarts)
        # Meant to run, but held down by the daemon's last stop (`down`): started
        # again by `up` or an operator, not by a daemon some other command started.
        self.held = False
        # `scale` refuses more (a typo of 100000 would fork the machine to death);
        # its file's [procward] max_instances, if it came from one.
        self.max_instances = MAX_INSTANCES
        self.instances: list[Instance] = []
        # Replacements a surge reload is starting, not yet in `instances`:
        # a stop must reach them too, or they would outlive it.
        self.arriving: frozenset[Instance] = NONE
        self.last_error: str | None = None
        self.waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._table: tuple[AppSpec, bytes] | None = None
        self._log_dir: str | None = None
        self._log_problems: frozenset[str] = NONE  # (an empty set is 216 bytes)
        self._sockets: HeldSockets | None = None
        self.resize(spec.instances)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def desired(self) -> bool:
        return self._desired

    @desired.setter
    def desired(self, value: bool) -> None:
        if value != self._desired or self.held:
            self._desired = value
            self.held = False  # an operator decided: the hold is over
            self.host.availability_changed(self.name, self.availability())

    def hold(self) -> None:
        """Meant to run, but down until `up` (or an operator's start): the daemon stops."""
        self.held = self._desired
        self.host.availability_changed(self.name, self.availability())

    @property
    def wanted(self) -> bool:
        """Meant to run now: desired and not held down."""
        return self._desired and not self.held

    def availability(self) -> int | None:
        """``UP``, ``PARTIAL`` or ``DOWN`` for the uptime history; None when not meant to run."""
        if not self.wanted:
            return None
        probed = self.spec.ready is not None
        ok = sum(1 for i in self.instances if _instance_up(i, probed))
        return UP if ok == len(self.instances) else PARTIAL if ok else DOWN

    @property
    def table(self) -> bytes:
        """``spec.to_table()`` with the name, as JSON, made once per spec: every save
        needs it (kept encoded: the dict was 900 bytes an app, these are half)."""
        if self._table is None or self._table[0] is not self.spec:
            table = {"name": self.spec.name, **self.spec.to_table()}
            self._table = (self.spec, json.dumps(table).encode())
        return self._table[1]

    def resize(self, count: int) -> list[Instance]:
        """Add instances up to ``count``; return those beyond it (to retire)."""
        while len(self.instances) < count:
            self.instances.append(self.new_instance(len(self.instances)))
        return self.instances[count:]

    def new_instance(self, index: int) -> Instance:
        """An instance for slot ``index``, not yet in ``instances`` (``resize``, a surge)."""
        return Instance(self.host, self, index)

    def instance_changed(self, moved: bool) -> None:
        """One of the app's instances changed (``moved``: its state, or it restarted)."""
        self.host.changed(self.name, moved)
        if self.waiters:
            self.wake()

    def report_log_problem(self, text: str) -> None:
        """Once per app and problem: a full disk is one message, not one per line."""
        reason = text.rsplit(": ", 1)[-1]
        if reason not in self._log_problems:
            self._log_problems |= {reason}
            log.error("%s: %s", self.name, text)

    def log_dir(self) -> str:
        """Where the app's log files go; made by ``make_log_dir`` when one is first opened."""
        return os.path.join(self.host.log_dir, self.name)

    def make_log_dir(self) -> None:
        """Make (or check) the log directory, once per app: at its first log file's opening.

        Not at the spawn: 2,000 apps that print nothing would cost 2,000
        ``mkdir`` on a cold start (a tenth of its time), for directories
        nobody writes to.
        """
        if self._log_dir is None:
            self._log_dir = self.log_dir()
            try:
                ensure_private_dir(self._log_dir)
            except (OSError, KitError) as exc:
                # The app runs anyway; its sinks report that they cannot write.
                log.error("%s: log directory unusable: %s", self.name, exc)

    def held_sockets(self) -> HeldSockets:
        """The app's listening sockets, bound at its first spawn and kept across restarts."""
        if self._sockets is not None and self._sockets.spec != dict(self.spec.sockets):
            self.close_sockets()  # redefined: processes still running keep their copies
        if self._sockets is None:
            from procward.supervision.sockets import HeldSockets

            self._sockets = HeldSockets(self.spec.sockets)
        return self._sockets

    def held_addresses(self) -> dict[str, str]:
        """The sockets bound for this app now (name -> address); none before its first spawn."""
        return dict(self._sockets.spec) if self._sockets is not None else {}

    def adopt_sockets(self, fds: list[int]) -> None:
        """The listening sockets the previous program held for this app (upgrade)."""
        from procward.supervision.sockets import HeldSockets

        self._sockets = HeldSockets.adopted(self.spec.sockets, fds)

    def held_socket_fds(self) -> list[int]:
        return [s.fileno() for s in self._sockets.sockets] if self._sockets is not None else []

    def close_sockets(self) -> None:
        if self._sockets is not None:
            self._sockets.close()
            self._sockets = None

    def wake(self) -> None:
        still = []
        for ready, future in self.waiters:
            if future.done():
                continue
            if ready():
                future.set_result(None)
            else:
                still.append((ready, future))
        self.waiters = still

    def note_error(self, message: str) -> None:
        self.last_error = message
        log.error("%s: %s", self.name, message)

    def healthy(self) -> bool:
        """Is everything that should run, running (or done cleanly)?"""
        if not self.wanted:
            return True
        return all(_instance_ok(i) for i in self.instances)

    def health(self) -> dict[str, Any]:
        """The probes of each instance, as ``getHealth`` reports them."""
        return {
            "name": self.name,
            "healthy": self.healthy(),
            "ready": self.spec.ready.describe if self.spec.ready is not None else None,
            "health": self.spec.health.describe if self.spec.health is not None else None,
            "instances": [
                {"index": i.index, "state": i.state.value, **i.prober.snapshot()}
                for i in self.instances
            ],
        }

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "desired": "running" if self.desired else "stopped",
            "held": self.held,
            "source": self.source,
            "instances": [i.snapshot() for i in self.instances],
            "depends_on": list(self.spec.depends_on),
            "healthy": self.healthy(),
            "error": self.last_error,
        }


def settled(inst: Instance) -> bool:
    """No longer starting: ready, or past its ``min_start``, or failed, or at rest."""
    return inst.state in SETTLED and inst.record.proven


def serving(inst: Instance, probed: bool) -> bool:
    """Running (ready, when there is a ready probe: ``probed``).

    Without a ready probe, a process still in its ``min_start`` counts as
    serving: nothing says it is not, and every start would otherwise count a
    second of downtime.
    """
    return inst.state is State.RUNNING or (inst.state is State.STARTING and not probed)


def _instance_up(inst: Instance, probed: bool) -> bool:
    """Up, for the uptime history: serving, or a job that ended cleanly."""
    return serving(inst, probed) or (inst.state is State.EXITED and inst.record.exit_code == 0)


def _instance_ok(inst: Instance) -> bool:
    if inst.state in (State.STARTING, State.RUNNING):
        return True
    return inst.state is State.EXITED and inst.record.exit_code == 0
