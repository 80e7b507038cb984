"""One instance of an app in the real world: the shell around ``machine.step``.

It feeds events to the pure state machine one at a time (events raised while
actions run, such as ``Spawned`` right after a spawn, are queued, so an
action never sees a record older than the one it was computed from) and
performs the actions: spawn, signal the process group, arm or cancel timers.

It talks to a narrow ``Host`` (``host.py``: timers from one clock, spawn and
signal, the child registry, "changed") and to its ``Owner`` (the app), never
to the supervisor: a fake clock and a fake spawner drive it in-process.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from procward.kit import _signals as signals
from procward.kit._procinfo import ProcessIdentity
from procward.supervision import escapees, machine, process
from procward.supervision.capture import PipeReader
from procward.supervision.config import ConfigError
from procward.supervision.logs import LogSink
from procward.supervision.machine import (
    Action,
    BackoffElapsed,
    CancelTimer,
    Check,
    Event,
    Ready,
    Record,
    SetTimer,
    SignalGroup,
    Spawn,
    Spawned,
    SpawnFailed,
    StartProbe,
    StartupElapsed,
    State,
    StopProbes,
    StopTimeout,
    Timer,
)
from procward.supervision.pacing import Ticket
from procward.supervision.policy import Budget
from procward.supervision.spec import AppSpec, Launch

if TYPE_CHECKING:
    from procward.kit._notify import NotifyReceiver
    from procward.supervision.cgroups import Cgroups
    from procward.supervision.confinement import ExecReport
    from procward.supervision.health import Prober
    from procward.supervision.host import Cancellable, Host, Label
    from procward.supervision.sockets import HeldSockets

log = logging.getLogger("procward.supervision")

_TIMER_EVENTS: dict[Timer, Callable[[], Event]] = {
    Timer.STARTUP: StartupElapsed,
    Timer.BACKOFF: BackoffElapsed,
    Timer.STOP: StopTimeout,
}


NONE: frozenset[Any] = frozenset()  # one for every empty field (each call makes a new one)


class Owner(Protocol):
    """What an instance uses of its app (``App`` in ``app.py``)."""

    spec: AppSpec

    @property
    def name(self) -> str: ...

    def note_error(self, message: str) -> None: ...

    def report_log_problem(self, text: str) -> None: ...

    def log_dir(self) -> str: ...

    def make_log_dir(self) -> None: ...

    def held_sockets(self) -> HeldSockets: ...

    def instance_changed(self, moved: bool) -> None:
        """An instance of the app changed (``moved``: its state, or it restarted)."""
        ...


class Instance:
    def __init__(self, host: Host, app: Owner, index: int) -> None:
        self.host = host
        self.app = app
        self.index = index
        self.record = Record()
        self.child: process.Child | None = None
        self.started_wall: float | None = None  # time.time() of the last spawn
        # Secrets changed in the store since this process was given them (a reload picks them up).
        self.outdated_secrets: frozenset[str] = NONE  # shared while empty
        self.pgid: int | None = None  # group of the current (or lingering) process
        self.last_pid: int | None = None  # of the latest process, kept after it exits
        self.lingering: machine.Exited | None = None  # leader gone, group not yet
        # Processes it started outside its group, found when it was signalled (escapees.py).
        self.escapees: list[ProcessIdentity] = []
        # Its cgroup's directory while it has one (cgroups.py): then the cgroup,
        # not the /proc scan of escapees.py, finds and ends what left the group.
        self.cgroup: str | None = None
        self._timers: dict[Timer, Cancellable] = {}
        self._respawn: Ticket | None = None  # a restart without delay, next pass
        self.respawn_from: State | None = None  # its "between" state, for the event of its start
        self._queue: list[Event] = []  # a deque's empty block is 600 bytes an instance
        self._busy = False
        self._launch: tuple[AppSpec, Launch] | None = None
        self._sinks: dict[str, LogSink] = {}
        self.readers: set[PipeReader] = set()
        self._prober: Prober | None = None
        self._notify: NotifyReceiver | None = None  # made for a `notify` readiness probe
        self.status_text: str | None = None  # STATUS= from sd_notify
        # The credentials directory of the current process (secrets_as = "files").
        self.credentials: str | None = None

    @property
    def state(self) -> State:
        return self.record.state

    @property
    def label(self) -> str:
        return f"{self.app.name}:{self.index}"

    @property
    def key(self) -> Label:
        """``(app, index)``: whose a process is, for the host."""
        return (self.app.name, self.index)

    @property
    def spec(self) -> AppSpec:
        return self.app.spec

    @property
    def prober(self) -> Prober:
        """Made on first use: apps without probes never load the probing code."""
        if self._prober is None:
            from procward.supervision.health import Prober

            self._prober = Prober(self, self.host)
        return self._prober

    def note_error(self, message: str) -> None:
        """A problem of this instance, told through its app (``last_error``, the log)."""
        self.app.note_error(f"instance {self.index}: {message}")

    def send(self, event: Event) -> None:
        self._queue.append(event)
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue:
                self._apply(self._queue.pop(0))
        finally:
            self._busy = False

    def _apply(self, event: Event) -> None:
        before = self.record
        self.record, actions = machine.step(before, event, self.app.spec, self.host.timers.now())
        restarting = isinstance(event, machine.Exited | SpawnFailed)
        for action in actions:
            if restarting and isinstance(action, Spawn):
                self._respawn_soon()
            else:
                self._perform(action)
        if self.record != before:
            self._changed(before.state, before.pid)
        if self.cgroup is not None and self.state in machine.AT_REST and self.child is None:
            self.remove_cgroup()

    def _changed(self, before: State, old_pid: int | None = None) -> None:
        """This instance went on from ``before``, when process ``old_pid`` (if any) was its own.

        One step may end a process and start the next (a restart: the exit
        of a stopping process, or a crash restarted without backoff). That is
        two events, so that each pid goes with what happened to it: the old
        process's exit, then the new one's start.
        """
        rec = self.record
        restarted = old_pid is not None and rec.pid is None and rec.state is State.STARTING
        if self.respawn_from is not None and not restarted:  # its spawn will not come
            self._respawned(None)
        if restarted:
            # A failure (attempt > 0) went through the restart policy, with no
            # delay; an operator's restart (attempt reset) through "stopped".
            between = State.BACKOFF if rec.attempt > 0 else State.STOPPED
            self._event(before, between, old_pid, self._why(before, between))
            if self.respawn_pending:  # spawned on the loop's next pass: _respawned() tells
                self.respawn_from = between
            else:
                new_pid = self.last_pid if self.last_pid != old_pid else None  # None: failed
                self._event(between, rec.state, new_pid, None)
        elif self.state is not before:
            pid = rec.pid if rec.pid is not None else self.last_pid
            self._event(before, self.state, pid, self._why(before))
        self.app.instance_changed(restarted or self.state is not before)

    def _respawned(self, new_pid: int | None) -> None:
        """A restart without delay spawned ``new_pid`` (None: it failed, or never came)."""
        between, self.respawn_from = self.respawn_from, None
        if between is not None:
            self._event(between, State.STARTING, new_pid, None)

    def _event(self, before: State, after: State, pid: int | None, why: str | None) -> None:
        log.debug("%s: %s -> %s", self.label, before.value, after.value)
        self.host.event(self.key, before.value, after.value, pid, why)

    def _why(self, before: State, now: State | None = None) -> str | None:
        """A few words on why this instance went from ``before`` to ``now`` (its state if None)."""
        rec = self.record
        now = self.state if now is None else now
        if rec.failure is not None:
            return rec.failure
        if now in (State.BACKOFF, State.EXITED, State.CRASHED) or before is State.STOPPING:
            if rec.error is not None and rec.exit_code is None and rec.exit_signal is None:
                return rec.error  # it never ran: the spawn failed
            if rec.exit_code is not None or rec.exit_signal is not None:
                return process.describe_status(rec.exit_code, rec.exit_signal)
        if now is State.RUNNING and self.app.spec.ready is not None:
            return f"ready ({self.prober.describe(Check.READY)})"  # its own $PORT, not the template
        return None

    def _perform(self, action: Action) -> None:
        if isinstance(action, Spawn):
            self._spawn()
        elif isinstance(action, SignalGroup):
            self._signal(signals.number(action.signal))
        elif isinstance(action, SetTimer):
            self._cancel(action.timer)
            event = _TIMER_EVENTS[action.timer]()
            if action.timer is Timer.STARTUP and self.app.spec.ready is not None:
                event = StartupElapsed(self.prober.describe(Check.READY) or "")
            self._timers[action.timer] = self.host.timers.call_later(
                action.delay, self._fire, action.timer, event
            )
        elif isinstance(action, CancelTimer):
            self._cancel(action.timer)
        elif isinstance(action, StartProbe):
            self.prober.start(action.check)
        elif isinstance(action, StopProbes) and self._prober is not None:
            self._prober.stop()

    def _respawn_soon(self) -> None:
        """Restart without delay, but on the loop's next pass, not now.

        Now would be inside the reaper's pass (or a failed spawn's): with
        children that die faster than they are spawned, that pass would never
        end, and no call, pipe or timer would get its turn.
        """
        if self._respawn is None:
            self._respawn = self.host.respawn_soon(self._respawn_now)

    @property
    def respawn_pending(self) -> bool:
        return self._respawn is not None

    def _respawn_now(self) -> None:
        self._respawn = None
        if not (self.state is State.STARTING and self.record.pid is None and self.child is None):
            return  # stopped (or started by other means) meanwhile
        # As in send(): what the spawn causes (Spawned, SpawnFailed) waits until
        # the start itself is told, so the events come in the order they happened.
        self._busy = True
        try:
            last = self.last_pid
            self._spawn()
            self._respawned(self.last_pid if self.last_pid != last else None)
            while self._queue:
                self._apply(self._queue.pop(0))
        finally:
            self._busy = False

    def _signal(self, sig: int) -> None:
        """The process group, and what the instance started outside it."""
        if self.cgroup is not None and self.host.cgroups is not None:
            self._signal_cgroup(self.host.cgroups, self.cgroup, sig)
            return
        if self.pgid is not None:
            self.host.spawner.signal_group(self.pgid, sig)
        leader = self.child.pid if self.child is not None else None
        now = self.host.escapees(leader, self.pgid, self.key)
        found = {p.pid: p for p in (*self.escapees, *now)}
        self.escapees = escapees.signal_each(found.values(), sig)
        if self.escapees:
            pids = ", ".join(str(p.pid) for p in self.escapees)
            log.info("%s: also signalled %s, started outside its process group", self.label, pids)

    def _signal_cgroup(self, cgroups: Cgroups, path: str, sig: int) -> None:
        """KILL: the whole cgroup at once; another signal: the group, and members outside it.

        The group too at a KILL: a process just spawned may not have joined
        the cgroup yet (it is still ``_JOIN``'s sh, in the group, forking nothing).
        """
        if self.pgid is not None:
            self.host.spawner.signal_group(self.pgid, sig)
        if sig == signal.SIGKILL:
            cgroups.kill(path)
            return
        outside = cgroups.signal_outside(path, self.pgid, sig)
        if outside:
            pids = ", ".join(map(str, outside))
            log.info("%s: also signalled %s, in its cgroup outside its group", self.label, pids)

    def remove_cgroup(self) -> None:
        """Its cgroup, once nothing runs in it: removed (again later if still busy)."""
        cgroups, path = self.host.cgroups, self.cgroup
        if cgroups is None or path is None:
            return
        self.cgroup = None
        if not cgroups.release(path, self):
            self.host.timers.call_later(0.05, self._remove_cgroup_later, cgroups, path, 40)

    def _remove_cgroup_later(self, cgroups: Cgroups, path: str, tries: int) -> None:
        if path in cgroups.owners or cgroups.remove(path):
            return  # in use again (a new spawn), or removed
        if tries > 1:
            self.host.timers.call_later(0.05, self._remove_cgroup_later, cgroups, path, tries - 1)
        else:
            log.warning("%s: cgroup %s still busy; left in place", self.label, path)

    def anything_left(self) -> bool:
        """Is any process of this instance (group or escapee) still running?"""
        if self.cgroup is not None and self.host.cgroups is not None:
            return self.host.cgroups.populated(self.cgroup)
        if self.pgid is not None and self.host.spawner.group_alive(self.pgid):
            return True
        return escapees.alive(self.escapees)

    def _fire(self, timer: Timer, event: Event) -> None:
        self._timers.pop(timer, None)  # not kept once fired: a handle and its event per instance
        self.send(event)

    def _cancel(self, timer: Timer) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def cancel_timers(self) -> None:
        """Nothing of this instance may fire any more (it is being removed)."""
        for timer in list(self._timers):
            self._cancel(timer)
        if self._respawn is not None:
            self._respawn.cancel()
            self._respawn = None
        if self._prober is not None:
            self._prober.stop()
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def notified(self, fields: dict[str, str]) -> None:
        """An sd_notify message from this instance's process group."""
        if "STATUS" in fields:
            self.status_text = fields["STATUS"][:200] or None
        ready = self.app.spec.ready
        waiting = self.state is State.STARTING and self.record.pid is not None
        if waiting and fields.get("READY") == "1" and ready is not None and ready.kind == "notify":
            self.prober.notified_ready()
            self.send(Ready())

    def _spawn(self) -> None:
        try:
            plan = self._spawn_plan()
            if self.app.spec.sockets:
                from procward.supervision.sockets import with_sockets

                _check_ready_target(self.app.spec, plan)
                plan = with_sockets(plan, self.app.held_sockets())
            sinks = self.sinks()
            cgroup = self._cgroup_to_join()
            child = self.host.spawner.spawn(plan, merge=self.app.spec.merge_logs, cgroup=cgroup)
        except (process.SpawnError, ConfigError, OSError) as exc:
            self.release_credentials()
            reason = str(exc)
            self.app.note_error(f"instance {self.index}: {reason}")
            self.last_pid = None  # no process this time: events must not name the last one
            self.send(SpawnFailed(reason))
            return
        for stream, fd in child.outputs.items():
            self.readers.add(PipeReader(self.host.loop, fd, sinks[stream], self.readers.discard))
        self.child = child
        self.pgid = self.last_pid = child.pid
        self.started_wall = time.time()
        self.outdated_secrets = NONE
        self.host.register(child.pid, self.leader_exited)
        if child.report is not None:
            self.host.loop.add_reader(child.report.fd, self._heard, child.report)
        self.status_text = None
        if self.app.spec.max_memory is not None:
            self.host.watch_memory()
        self.send(Spawned(child.pid))

    def _cgroup_to_join(self) -> str | None:
        """This instance's cgroup, where the daemon uses cgroups, for its next process."""
        cgroups = self.host.cgroups
        if cgroups is None:
            return None
        try:
            self.cgroup = cgroups.make(self.app.spec, self.index, self)
        except OSError as exc:  # run it all the same, as without cgroups
            log.warning("%s: cannot make its cgroup: %s", self.label, exc.strerror or exc)
            self.cgroup = None
        return self.cgroup

    def launch_plan(self, *, secrets: bool = False) -> Launch:
        """How this instance runs: for its probes, and its spawn when it has no secrets.

        Cached per spec unless an env_file or the user's account must be
        read afresh. Without ``secrets`` an app's secrets read
        ``<secret:NAME>`` (enough for a probe's address); with it (an exec
        probe's environment) the values are read from the store again, and
        never cached: a ``Launch`` holding them lives only as long as the
        call that needs it. A ``files`` app's probe gets the directory of
        the running process.
        """
        spec = self.app.spec
        if secrets and spec.secrets:
            if spec.secrets_as == "files":
                return self.host.launch(spec, self.index, credentials=self.credentials)
            resolved = self.host.resolve_secrets(spec, self.label)
            return self.host.launch(spec, self.index, secret_env=resolved.env)
        notify = self._notify_socket() if spec.ready is not None else None
        if spec.env_file is not None or spec.user is not None:  # read afresh: the file, the account
            return self.host.launch(spec, self.index, notify_socket=notify)
        if self._launch is None or self._launch[0] is not spec:
            self._launch = (spec, self.host.launch(spec, self.index, notify_socket=notify))
        return self._launch[1]

    def _spawn_plan(self) -> Launch:
        """What to exec now: with an app's secrets, read from the store for this spawn."""
        spec = self.app.spec
        if not spec.secrets:
            return self.launch_plan()
        notify = self._notify_socket() if spec.ready is not None else None
        self.release_credentials()  # a process that ended without being told: not read now
        resolved = self.host.resolve_secrets(spec, f"{spec.name}.{self.index}")
        self.credentials = resolved.directory
        return self.host.launch(
            spec,
            self.index,
            notify_socket=notify,
            secret_env=resolved.env,
            credentials=resolved.directory,
        )

    def release_credentials(self) -> None:
        """The credentials directory of a process that has ended (or never started): removed."""
        if self.credentials is not None:
            directory, self.credentials = self.credentials, None
            self.host.release_secrets(directory)

    def _notify_socket(self) -> str | None:
        """This instance's own NOTIFY_SOCKET, for a ``notify`` readiness probe.

        One abstract socket per instance, so a message counts for the
        instance whose socket it reached, whoever sent it and whether or not
        the sender still exists when it is read.
        """
        ready = self.app.spec.ready
        if ready is None or ready.kind != "notify":
            return None
        if self._notify is None:
            from procward.kit._notify import NotifyReceiver

            address = f"@procward/{os.getpid()}/{id(self):x}/{self.label}"
            try:
                self._notify = NotifyReceiver(address, lambda _pid, fields: self.notified(fields))
            except OSError as exc:
                log.error("%s: cannot listen for sd_notify: %s", self.label, exc)
                return None
            self._notify.attach(self.host.loop)
        return self._notify.path

    def sinks(self) -> dict[str, LogSink]:
        """This instance's log files, opened at its first spawn and kept across restarts."""
        spec = self.app.spec
        streams = ("log",) if spec.merge_logs else ("out", "err")
        if set(self._sinks) != set(streams):
            self.close_logs()
            directory = self.app.log_dir()
            self._sinks = {
                stream: LogSink(
                    os.path.join(directory, f"{self.index}.{stream}"),
                    app=self.app.name,
                    index=self.index,
                    stream=stream,
                    max_size=spec.log_max_size,
                    backups=spec.log_backups,
                    stamp=spec.log_time,
                    json_lines=spec.log_format == "json",
                    report=self.app.report_log_problem,
                    owner=self._log_owner(),
                    prepare=self.app.make_log_dir,
                )
                for stream in streams
            }
            for sink in self._sinks.values():
                self.host.log_opened(sink)
        return self._sinks

    def _log_owner(self) -> tuple[int, int] | None:
        """Whose its log files are made (``log_owner = "app"``, a root daemon); None: ours."""
        spec = self.app.spec
        if spec.log_owner != "app" or spec.user is None or os.geteuid() != 0:
            return None
        try:
            account = self.host.account(spec)
        except ConfigError as exc:  # gone since the load: the spawn says so too
            log.error("%s: log files stay the daemon's: %s", self.label, exc)
            return None
        return None if account is None else (account.uid, account.gid)

    @property
    def log_sinks(self) -> dict[str, LogSink]:
        return self._sinks

    def take_over_logs(self, other: Instance) -> None:
        """Write to ``other``'s log files: a replacement for the same index (reload)."""
        self._sinks = other._sinks

    def release_logs(self) -> None:
        """Stop owning the log files without closing them (another instance has them)."""
        for reader in list(self.readers):
            reader.drain()
        self._sinks = {}

    def close_logs(self) -> None:
        for reader in list(self.readers):
            reader.drain()
        for sink in self._sinks.values():
            sink.close()
        self._sinks = {}

    def _heard(self, report: ExecReport) -> None:
        """The shim of a confined spawn exec'd the program, or said why not (then it exits)."""
        if report.read():
            self._forget(report)

    def _forget(self, report: ExecReport) -> None:
        if report.fd >= 0:
            self.host.loop.remove_reader(report.fd)
            report.close()

    def _last_word(self, child: process.Child) -> str | None:
        """Why ``child``'s program never ran, if its shim said so before it exited."""
        if child.report is not None and child.report.fd >= 0:
            self.host.loop.remove_reader(child.report.fd)
        return process.last_word(child)

    # -- exits, reported by the supervisor's reaper ------------------------------------

    def leader_exited(self, status: int) -> None:
        assert self.child is not None
        code, sig = process.exit_of(status)
        never_ran = self._last_word(self.child)
        pgid = self.pgid
        self.child = None
        if self.state is State.STOPPING and self.anything_left():
            # Not stopped until the whole group (and what left it) is gone: the
            # stop timer still KILLs stragglers, and group_emptied() finishes the job.
            self.lingering = machine.Exited(code, sig)
            self.host.linger(self)
            return
        stopping = self.state is State.STOPPING
        contained = self.cgroup is not None  # the cgroup, not the /proc scan, ends what is left
        if self.cgroup is not None and self.host.cgroups is not None:
            self._end_cgroup(self.host.cgroups, self.cgroup, pgid, stopping)
        elif pgid is not None and self.host.spawner.group_alive(pgid):
            # The leader died on its own: what it left behind would be a
            # duplicate of the next generation.
            self.host.spawner.signal_group(pgid, signal.SIGKILL)
        self.pgid = None
        self.escapees = []
        self.release_credentials()
        if never_ran is not None:
            self.app.note_error(f"instance {self.index}: {never_ran}")
        self.send(machine.Exited(code, sig, never_ran))
        if not stopping and not contained:  # once restarted: the new process's start
            # must not wait for (or, on two cores, compete with) a scan of /proc
            self.host.timers.call_later(0.05, self._end_orphans)

    def _end_cgroup(self, cgroups: Cgroups, path: str, pgid: int | None, stopping: bool) -> None:
        """The leader is gone: KILL what is left in its cgroup, before the next spawn joins it."""
        if not cgroups.populated(path):
            return
        outside = [pid for pid in cgroups.members(path) if _group_of(pid) not in (pgid, None)]
        cgroups.kill(path)
        if outside and not stopping:
            pids = ", ".join(map(str, outside))
            self.app.note_error(
                f"instance {self.index} left {pids} running outside its process group; "
                "killed (run the program in the foreground: no daemonizing)"
            )

    def _end_orphans(self) -> None:
        """KILL what an exited leader left outside its group (handed to the daemon)."""
        left = self.host.orphans(self.key)
        if escapees.signal_each(left, signal.SIGKILL):
            pids = ", ".join(str(p.pid) for p in left)
            message = (
                f"instance {self.index} left {pids} running outside its process group; "
                "killed (run the program in the foreground: no daemonizing)"
            )
            self.app.note_error(message)

    def group_emptied(self) -> None:
        assert self.lingering is not None
        event, self.lingering = self.lingering, None
        self.pgid = None
        self.escapees = []
        self.release_credentials()
        self.send(event)

    # -- in-place upgrade ------------------------------------------------------------

    def hand_over(self) -> dict[str, Any] | None:
        """Let go of a running process for the next program; None if there is none."""
        if self.child is None or self.state is not State.RUNNING:
            return None
        self.cancel_timers()
        if self.child.report is not None:
            self._forget(self.child.report)
        fds = {}
        for reader in list(self.readers):
            fds[reader.sink.stream] = reader.detach()
        self.readers.clear()
        sinks = {stream: sink.hand_over() for stream, sink in self._sinks.items()}
        self._sinks = {}
        rec = self.record
        return {
            "app": self.app.name,
            "index": self.index,
            "pid": self.child.pid,
            "started_wall": self.started_wall,
            "started_at": rec.started_at,
            "restarts": rec.restarts,
            "attempt": rec.attempt,
            "budget": list(rec.budget.recent),
            "fds": fds,
            "sinks": sinks,
            "credentials": self.credentials,  # still read by the process: not removed
            "cgroup": self.cgroup,  # it runs there still
        }

    def adopt(self, handed: dict[str, Any]) -> None:
        """Take over a process the previous program ran (``hand_over``): it is running."""
        pid = int(handed["pid"])
        fds = {str(stream): int(fd) for stream, fd in handed["fds"].items()}
        self.child = process.Child(ProcessIdentity.of(pid) or ProcessIdentity(pid, 0, ""), fds)
        self.pgid = self.last_pid = pid
        cgroups, cgroup = self.host.cgroups, handed.get("cgroup")
        if cgroups is not None and isinstance(cgroup, str) and cgroups.adopt(cgroup, self):
            self.cgroup = cgroup  # kept across the upgrade
        self.credentials = handed.get("credentials")
        self.started_wall = handed.get("started_wall")
        self.record = Record(
            state=State.RUNNING,
            pid=pid,
            started_at=handed.get("started_at"),
            attempt=int(handed.get("attempt", 0)),
            budget=Budget(tuple(handed.get("budget", ()))),
            restarts=int(handed.get("restarts", 0)),
        )
        sinks = self.sinks()
        for stream, fd in fds.items():
            os.set_inheritable(fd, False)
            sinks[stream].take_over(handed.get("sinks", {}).get(stream, {}))
            self.readers.add(PipeReader(self.host.loop, fd, sinks[stream], self.readers.discard))
        self.host.register(pid, self.leader_exited)
        if self.app.spec.health is not None:
            self.prober.start(Check.HEALTH)
        self._changed(State.RUNNING)

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take back a ``crashed`` or ``exited`` record from ``state.json`` (after a crash).

        Those are decisions, not accidents of the daemon's death: the next
        daemon keeps them rather than starting the process again.
        """
        state = saved.get("state")
        if state not in (State.CRASHED, State.EXITED):
            return
        code, sig, restarts = (
            saved.get("exit_code"),
            saved.get("exit_signal"),
            saved.get("restarts"),
        )
        self.record = Record(
            state=State(state),
            restarts=restarts if isinstance(restarts, int) and restarts >= 0 else 0,
            exit_code=code if isinstance(code, int) else None,
            exit_signal=sig if isinstance(sig, int) else None,
            error=str(saved["error"]) if saved.get("error") else None,
        )

    def snapshot(self) -> dict[str, object]:
        rec = self.record
        info: dict[str, object] = {
            "index": self.index,
            "state": rec.state.value,
            "pid": rec.pid,
            "restarts": rec.restarts,
            "started_at": self.started_wall if rec.pid is not None else None,
            "exit_code": rec.exit_code,
            "exit_signal": rec.exit_signal,
            "error": rec.error,
        }
        if not rec.proven:  # running, and not yet for min_start
            info["proven"] = False
        if self.app.spec.ready is not None or self.app.spec.health is not None:
            info["probe"] = self.prober.snapshot()
        if self.status_text is not None:
            info["status"] = self.status_text
        if self.outdated_secrets and rec.pid is not None:
            info["outdated_secrets"] = sorted(self.outdated_secrets)
        reading = self.host.reading(self.pgid)
        if reading is not None:
            info.update(reading.as_dict())
        if self.child is not None:
            info["starttime"] = self.child.identity.starttime
            info["boot_id"] = self.child.identity.boot_id
        return info


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _check_ready_target(spec: AppSpec, plan: Launch) -> None:
    """The config check of a ready probe's address, once its variables are known."""
    if spec.ready is None or not spec.ready.target:
        return
    from procward.supervision.health import expanded
    from procward.supervision.probe import why_it_cannot_judge
    from procward.supervision.spec import Problem

    target = expanded(spec.ready, plan).target
    try:
        why = why_it_cannot_judge(spec.ready, spec.sockets, surge=False, target=target)
    except ValueError:
        return  # an address that expanded to nonsense: the probe says so
    if why is not None:
        raise ConfigError([Problem(spec.name, f"ready.{spec.ready.kind.value}", why)])
