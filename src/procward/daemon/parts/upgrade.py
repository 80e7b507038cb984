"""``procward upgrade``: a new daemon program without stopping a single app.

The kit does the exec (``kit.handover``): same pid, so the apps stay our
children and their pipes stay open. This part says what procward hands
over and how the next program takes it back:

- refused while an instance is starting or stopping, a reload is replacing
  one, or an ``exec`` command runs (``Conflict``: try again in a moment), so
  that every process handed over is simply *running* and nothing is cut short;
- for each running instance: its pid, restart counters and budget, the read
  ends of its output pipes, and the unfinished line of a ``log_format =
  "json"`` sink; for each app, the listening sockets it holds;
- state, uptime and audit log are written first, the watch threads stopped;
- the next program restores the apps from ``state.json`` as after any
  restart, but adopts the handed-over processes as running instead of
  treating them as a dead daemon's leftovers, and starts only what else
  should run (instances in backoff, say).

Output written during the exec waits in the pipes (1 MiB each): no line is
lost. Not carried over: sd_notify ``STATUS=`` texts (the abstract sockets
are per program; an app's next ``READY=1`` is not needed), a follower's
``logs -f`` connection (it ends; run it again).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from procward.kit._errors import Conflict
from procward.kit._structs import RecordError, Struct, field
from procward.supervision.machine import State
from procward.supervision.process import signal_group

if TYPE_CHECKING:
    from procward.daemon.parts.audit import Audit
    from procward.daemon.parts.commands import Commands
    from procward.daemon.parts.events import EventHistory
    from procward.daemon.parts.uptime import Uptime
    from procward.daemon.statekeeper import StateKeeper
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")

_BUSY = (State.STARTING, State.STOPPING)


class Upgrade:
    """procward's half of the kit's upgrade hooks (the kit's ``upgrade`` method does the exec)."""

    def __init__(  # noqa: PLR0917 - what a hand-over saves and closes, each named
        self,
        sup: Supervisor,
        keeper: StateKeeper,
        commands: Commands,
        uptime: Uptime,
        events: EventHistory,
        audit: Audit,
    ) -> None:
        self.sup = sup
        self.keeper = keeper
        self.commands = commands
        self.uptime = uptime
        self.events = events
        self.audit = audit

    async def before_upgrade(self) -> dict[str, Any]:
        """Not busy, then one save to see: the next program restores from ``state.json``."""
        busy = [
            f"{inst.label} is {inst.state.value if inst.record.proven else 'starting'}"
            for app in self.sup.apps.values()
            for inst in (*app.instances, *app.arriving)
            if inst.state in _BUSY or not inst.record.proven or inst in app.arriving
        ]
        if self.commands.running:  # they would be killed with the old program's requests
            busy.append(f"{self.commands.running} exec command(s) running")
        if busy:
            raise Conflict(f"not now: {', '.join(busy[:5])}; try again in a moment")
        kept = sum(1 for a in self.sup.apps.values() for i in a.instances if i.child is not None)
        await self.keeper.check_savable()
        return {"keeping": kept}

    async def on_handover(self) -> tuple[dict[str, Any], list[int]]:
        sup = self.sup
        sup.stop_watching()
        sup.stop_recycling()
        self.uptime.stop()
        await self.uptime.save()
        await self.events.save()
        await self.keeper.durable()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # exits wait, as zombies, for the next
        handover, fds = HandOver(), []
        for app in sup.apps.values():
            for inst in app.instances:
                handed = inst.hand_over()
                if handed is not None:
                    handover.instances.append(HandedInstance.from_instance(handed))
                    fds.extend(handed["fds"].values())
            held = app.held_socket_fds()
            if held:
                handover.sockets[app.name] = held
                fds.extend(held)
        await self.keeper.close()
        self.audit.close()
        log.info("handing over %d running processes", len(handover.instances))
        return handover.as_dict(), fds

    def adopt_handed_over(self, handover: HandOver) -> None:
        """Take back what the previous program handed over; the apps are restored."""
        for name, fds in handover.sockets.items():
            app = self.sup.apps.get(name)
            if app is not None:
                app.adopt_sockets(fds)
            else:
                for fd in fds:
                    os.close(fd)
        adopted = 0
        for info in handover.instances:
            app = self.sup.apps.get(info.app)
            if app is None or not 0 <= info.index < len(app.instances):
                # Its app is gone from state.json: nobody to give it to.
                signal_group(info.pid, signal.SIGKILL)
                for fd in info.fds.values():
                    os.close(fd)
                if info.credentials is not None:
                    self.sup.release_secrets(info.credentials)
                if info.cgroup is not None and self.sup.cgroups is not None:
                    self.sup.cgroups.kill(info.cgroup)  # removed at the next start, if not now
                    self.sup.cgroups.remove(info.cgroup)
                continue
            app.instances[info.index].adopt(info.as_dict())
            adopted += 1
        log.info("upgraded in place: %d running processes taken over", adopted)


VERSION = 1  # of the hand-over below; what procward 0.1 wrote without saying so


class HandedInstance(Struct):
    """A running instance as ``Instance.hand_over()`` lets go of it."""

    app: str
    index: int
    pid: int
    fds: dict[str, int]  # stream -> read end of its pipe, inherited across the exec
    started_wall: float | None = None
    started_at: float | None = None
    restarts: int = 0
    attempt: int = 0
    budget: list[float] = field(default_factory=list)
    sinks: dict[str, Any] = field(default_factory=dict)  # each sink's unfinished line
    cgroup: str | None = None  # its cgroup's directory (decision 0039)
    credentials: str | None = None  # its secret files (secrets_as = "files"), still read

    @classmethod
    def from_instance(cls, handed: dict[str, Any]) -> HandedInstance:
        return cls(**{key: handed[key] for key in cls._fields if key in handed})


class HandOver(Struct, frozen=False):
    """procward's part of the kit's hand-over: what the next program adopts."""

    version: int = VERSION
    instances: list[HandedInstance] = field(default_factory=list)
    sockets: dict[str, list[int]] = field(default_factory=dict)  # app -> its held sockets


def read_hand_over(handed: dict[str, Any] | None) -> HandOver | None:
    """What the previous program handed over; None if nothing, or nothing usable.

    A hand-over of another version, or one that does not read, is not
    guessed at: its processes are not adopted, and the start goes on as
    after a crash of the daemon (they are ended as the last daemon's
    leftovers and what should run is started again from ``state.json``).
    The apps restart, but none is left unsupervised.
    """
    if handed is None:
        return None
    try:
        handover = HandOver.from_dict(handed, "hand-over")
    except RecordError as exc:
        problem = str(exc)
    else:
        if handover.version == VERSION:
            return handover
        problem = f"version {handover.version}, this program reads version {VERSION}"
    log.error(
        "upgrade: cannot adopt what the previous program handed over (%s); its processes "
        "are ended and the apps started again from state.json",
        problem,
    )
    return None


def handed_pids(handover: HandOver | None) -> set[int]:
    """The process groups handed over: not a dead daemon's leftovers."""
    return set() if handover is None else {info.pid for info in handover.instances}
