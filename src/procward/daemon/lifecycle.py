"""What a start and a stop of the daemon do besides building its parts.

At start (``prepare``; then, with the parts built, ``start`` and
``recover``): read ``state.json`` before any app is touched (and refuse to
start on one nobody can trust, decision 0031), end what the last daemon
left running, bring back what the file holds, watch for exiting children,
raise the open-file limit. At stop (``stop``, or ``abandon_start`` after a
start that failed): stop every app, and nothing more spawns. And what
``procward prompt`` counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procward.daemon import savedstate
from procward.daemon.parts.upgrade import handed_pids, read_hand_over
from procward.daemon.savedapps import SavedApps
from procward.kit._atomic import read_with_fallback
from procward.kit._children import CLAIMS
from procward.kit._errors import CorruptFile
from procward.supervision import state
from procward.supervision.app import serving
from procward.supervision.config import LIMIT_CEILING
from procward.supervision.machine import State
from procward.supervision.process import become_subreaper

if TYPE_CHECKING:
    from procward.daemon.parts import Parts
    from procward.daemon.parts.audit import Audit
    from procward.daemon.parts.upgrade import HandOver
    from procward.daemon.savedstate import SavedState
    from procward.kit._paths import InstancePaths
    from procward.supervision.supervisor import Supervisor

log = logging.getLogger("procward.daemon")


def prepare(
    paths: InstancePaths, handed_over: dict[str, Any] | None
) -> tuple[SavedState | None, HandOver | None]:
    """Before any part is built: the process set up, ``state.json`` read, the hand-over's apps.

    The state first, before any app is touched: a state nobody can trust
    stops the start here. The hand-over is None too when it cannot be adopted.
    """
    raise_fd_limit()
    if not become_subreaper():
        log.warning("cannot become child subreaper: orphaned grandchildren go to init")
    os.environ.pop(state.MARKER, None)  # we may have been started by an app
    saved = load_state(paths, upgrading=handed_over is not None)
    return saved, read_hand_over(handed_over)


async def start(
    parts: Parts, saved: SavedState | None, handed: HandOver | None, state_dir: str
) -> None:
    """The parts at work, and what the last daemon left running ended (but what is handed over)."""
    sup = parts.sup
    if handed is None:  # else after the handed-over children are adopted
        watch_children(sup.reaper.reap)
    parts.uptime.start()
    parts.events.start()
    await end_leftovers(saved, handed, state_dir)
    await use_cgroups(sup, handed, state_dir)
    remove_stale_credentials(sup, handed)
    if handed is not None and saved is None:
        log.error("upgrade: no state.json to adopt the running apps from")
        watch_children(sup.reaper.reap)


async def use_cgroups(sup: Supervisor, handed: HandOver | None, state_dir: str) -> None:
    """Each instance in a cgroup of its own, where the daemon may (decision 0039).

    ``delegation`` says whether and where (a few reads); only then is
    ``cgroups.py`` loaded, the subtree made, and what a crashed daemon left
    in it ended and removed, but for the cgroups of instances an upgrade
    handed over: those carry on, at the same path.
    """
    from procward.supervision.delegation import detect

    found = detect(state_dir)
    sup.cgroup_status = dict(found.as_dict())
    if found.base is None:
        log.info("cgroups not in use: %s", found.reason)
        return
    from procward.supervision.cgroups import Cgroups, CgroupsUnavailable, cleaned_stale

    cgroups = Cgroups(found)
    try:
        cgroups.set_up()
    except CgroupsUnavailable as exc:
        sup.cgroup_status = {"in_use": "no", "reason": str(exc)}
        log.info("cgroups not in use: %s", exc)
        return
    sup.cgroups = cgroups
    sup.cgroup_status = cgroups.describe()
    log.info("cgroups in use: %s (controllers: %s)", cgroups.base, sorted(cgroups.enabled))
    kept = [i.cgroup for i in handed.instances if i.cgroup] if handed is not None else []
    stale = cleaned_stale(cgroups, kept, handed_pids(handed))
    deadline = asyncio.get_running_loop().time() + 5.0
    while stale and asyncio.get_running_loop().time() < deadline:
        stale = [path for path in stale if not cgroups.remove(path)]
        if stale:
            await asyncio.sleep(0.02)  # killed, not yet gone
    for path in stale:
        log.warning("cgroup %s left by the last daemon is still busy; left in place", path)


def remove_stale_credentials(sup: Supervisor, handed: HandOver | None) -> None:
    """Secret files of the last daemon's processes, ended as leftovers: removed.

    Those of processes handed over by an upgrade are theirs still. Looked
    for only if the directory exists: a daemon whose apps never used secret
    files loads nothing for it.
    """
    keep = {i.credentials for i in handed.instances if i.credentials} if handed else set()
    if os.path.isdir(os.path.join(sup.paths.runtime_dir, "credentials")) or (
        # Those given to other users' apps (credentials.py): only a root daemon's.
        os.geteuid() == 0 and os.path.isdir(sup.credentials.shared_root or "")
    ):
        sup.credentials.remove_stale(keep)
        for directory in keep:
            sup.credentials.adopt(directory)


async def stop(parts: Parts, audit: Audit, *, force: bool) -> None:
    """The daemon stops: every app stopped and held down, the last saves, the files closed.

    "desired" is kept: `down` then `up` restores the same set, and until then
    they are held down (a daemon started by `status` leaves them).
    """
    sup = parts.sup
    parts.uptime.stop()
    await parts.fleet.close()  # the lease given up first: another node leads at once
    await stop_apps(sup, force=force)
    await sup.stop_hooks()
    if sup.cgroups is not None:
        sup.cgroups.close()
    for app in sup.apps.values():
        app.hold()
    sup.close_logs()
    await parts.uptime.save()
    await parts.events.save()
    await parts.keeper.close()
    audit.close()
    parts.keeper.status.remove()
    stop_watching_children()


async def abandon_start(parts: Parts | None, restoring: asyncio.Task[None] | None) -> None:
    """End what a start spawned: a daemon that never served leaves no app behind.

    Nothing is saved: ``state.json`` keeps what should run, and the next
    daemon starts it.
    """
    if restoring is not None:
        restoring.cancel()
    if parts is None:
        return
    parts.keeper.abandon()
    await stop_apps(parts.sup, force=True)
    if parts.sup.cgroups is not None:
        parts.sup.cgroups.close()
    parts.sup.close_logs()
    parts.keeper.status.remove()
    stop_watching_children()


def load_state(paths: InstancePaths, *, upgrading: bool) -> SavedState | None:
    """``state.json`` (or its ``.bak``); refuse to start when neither can be read.

    Without a state it can trust the daemon cannot tell its apps from
    anything else: ending the processes that carry its marker would end
    apps it may not relaunch, starting with no apps would leave them
    unsupervised and end them at the next start. So it touches nothing,
    and says what an operator can do (decision 0031). During an upgrade
    the running apps are our own children: the files are set aside instead.
    """
    try:
        return read_with_fallback(paths.state, savedstate.read)
    except CorruptFile as exc:
        if upgrading:
            kept = state.set_aside(paths.state)
            log.error("%s; set aside as %s", exc, ", ".join(kept))
            return None
        raise refusal(paths, str(exc)) from None


def refusal(paths: InstancePaths, problem: str) -> CorruptFile:
    """Decision 0031's refusal to start: what is wrong, and what an operator can do."""
    me = {os.getpid(), os.getpgid(0)}
    groups = len(state.marked_groups(paths.state_dir, exclude=me))
    return CorruptFile(
        f"the saved state is unreadable ({problem}). Not starting, and nothing touched: "
        "without a state it can trust, the daemon cannot tell which processes are its "
        f"apps ({groups} process group{'' if groups == 1 else 's'} of the last daemon "
        f"still running). Either put a good copy back as {paths.state} and run "
        "any command, or run `procward kill` to end those apps and set the unreadable "
        "files aside (the next start has no apps)"
    )


async def end_leftovers(saved: SavedState | None, handed: HandOver | None, state_dir: str) -> None:
    """End the process groups the last daemon left, but those handed over to adopt."""
    kept = handed_pids(handed)
    found = state.leftovers(None if saved is None else saved.as_dict(), state_dir)
    await state.terminate_leftovers([g for g in found if g.pgid not in kept], 10.0)


async def stop_apps(sup: Supervisor, *, force: bool) -> None:
    """Stop every app and what strayed from it, keeping what each should do (``desired``)."""
    sup.stop_watching()
    sup.stop_recycling()
    await sup.stop(list(sup.apps), keep_desired=True, force=force)
    await sup.end_strays()


async def recover(
    parts: Parts,
    saved: SavedState | None,
    handed: HandOver | None,
    *,
    path: str,
    start_held: bool,
    warn: Callable[[str], None],
    grace: float,
) -> asyncio.Task[None] | None:
    """Bring back what ``state.json`` holds (nothing without one); the task still starting apps.

    Settings first (the metrics switch, the instance cap), then the apps,
    then what an upgrade handed over is adopted; apps meant to run are
    started, and the start waits for them at most ``grace`` seconds (so the
    first ``status`` shows them starting; slow dependency chains go on in the
    background). The listeners come last: a failure there is a warning.
    """
    if saved is None:
        return None
    sup = parts.sup
    settings = savedstate.read_settings(saved.settings, path)
    parts.metrics.restore_metrics(settings.metrics)
    if settings.max_total_instances is not None:
        sup.max_total_instances = min(max(settings.max_total_instances, 1), LIMIT_CEILING)
    restoring = parts.keeper.saved_apps = SavedApps(sup, path, start_held=start_held, warn=warn)
    wanted, held = restoring.restore(saved.apps)
    # Placed apps are the fleet's to start, where its leader assigns them (procward.fleet):
    # not meant to run here until it does.
    for name in wanted:
        if sup.apps[name].spec.placement is not None:
            sup.apps[name].desired = False
    wanted = [name for name in wanted if sup.apps[name].spec.placement is None]
    log.info(
        "restored %d apps (%d to run, %d held down by `down`)",
        len(sup.apps),
        len(wanted),
        len(held),
    )
    if handed is not None:
        parts.upgrade.adopt_handed_over(handed)
        watch_children(sup.reaper.reap)  # and reap what exited meanwhile
    task = None
    if wanted:
        task = asyncio.get_running_loop().create_task(restoring.start(wanted))
        await asyncio.wait([task], timeout=grace)
    try:
        await parts.network.restore_network(settings.network)
    except Exception as exc:  # the apps run by now: not a reason to stop
        log.exception("restoring the network listeners failed")
        warn(f"not listening as before the restart: {exc}")
    return task


def watch_children(reap: Callable[[], None]) -> None:
    """Run ``reap`` in the loop whenever a child (or adopted orphan) exits.

    ``signal.signal``, not ``loop.add_signal_handler``: uvloop reserves
    SIGCHLD for subprocesses of its own, which we do not use. The handler
    only schedules the reap, so all logic still runs in the loop. A SIGCHLD
    that another thread takes still wakes the loop through the wakeup fd
    that kit._daemon's ``add_signal_handler`` calls set before this.
    """
    loop = asyncio.get_running_loop()
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: loop.call_soon_threadsafe(reap))
    # A thread's claimed child collected: what exited behind it is ours to reap now.
    CLAIMS.on_release = lambda: loop.call_soon_threadsafe(reap)
    reap()  # anything that exited before the handler was in place


def stop_watching_children() -> None:
    """The loop is about to close: a late SIGCHLD must not schedule into it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    CLAIMS.on_release = lambda: None


def raise_fd_limit() -> None:
    """Two pipes and two files per instance: 500 apps need more than the usual 1024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit above %d: %s", soft, exc)


def prompt_status(sup: Supervisor) -> dict[str, Any]:
    """What ``procward prompt`` shows, counted without building snapshots.

    ``running`` counts the instances that serve (running, or starting
    with no ready probe to wait for), out of ``wanted``; every app with an
    instance that does not is named once, by why: ``down`` (not well),
    ``exited`` (finished cleanly) or ``starting`` (not ready yet).
    """
    wanted = [a for a in sup.apps.values() if a.wanted]
    running = 0
    named: dict[str, list[str]] = {"down": [], "exited": [], "starting": []}
    for app in wanted:
        probed = app.spec.ready is not None
        idle = [i for i in app.instances if not serving(i, probed)]
        running += len(app.instances) - len(idle)
        if not app.healthy():
            named["down"].append(app.name)
        elif idle:  # well, so each is a clean exit or not ready yet
            done = all(i.state is State.EXITED for i in idle)
            named["exited" if done else "starting"].append(app.name)
    expected = sum(len(a.instances) for a in wanted)
    return {"healthy": not named["down"], "running": running, "wanted": expected, **named}
