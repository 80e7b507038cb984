"""Upgrading the supervisor itself while apps run.

Each run gets a fresh system (as in ``bench.supervision``): the daemon is
started with N apps ``sleep 100000`` and the bench waits until all run and
notes every app's pid (and start time) and the daemon's pid. Then, clock
started, the system replaces its running program with the installed one its
own documented way (``AppSystem.upgrade``):

- procward: ``procward upgrade`` (the daemon execs itself in place, same pid,
  and keeps its children);
- PM2: ``pm2 update`` (dump, kill the daemon, spawn it again, resurrect);
- supervisord and Circus have no such command: their equivalent is to quit
  the daemon (waiting until it is gone) and start it again with the same
  config.

Once the command(s) returned, the bench polls status until the daemon answers
and all N apps run again: that moment is *time back*. Then it counts the apps
whose process is not the one noted before (*apps restarted*) and whether the
daemon's pid changed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench import procs
from bench.measure import Summary
from bench.scenarios import Comparison, Section
from bench.supervision import UP_TIMEOUT, Plan, _all_running, _fresh, _up, sleep_apps
from bench.systems import AppSystem, AppSystemFactory, InstanceView
from procward.kit._errors import KitError

UPGRADE_APPS = 10
POLL = 0.02  # s between status polls while waiting for the apps to run again


@dataclass(frozen=True, slots=True)
class UpgradeRun:
    back: float  # s from starting the upgrade until status showed all apps running again
    returned: float  # s until the upgrade command(s) returned
    restarted: int  # apps whose process is not the one running before the upgrade
    daemon_kept: bool  # the daemon has the same pid afterwards


def restarted_apps(
    before: Mapping[tuple[str, int], procs.Proc | None], after: Sequence[InstanceView]
) -> int:
    """How many instances of ``after`` do not run the process ``before`` noted for them:
    another pid, or the noted process (pid and start time) no longer alive."""
    count = 0
    for view in after:
        old = before.get((view.app, view.index))
        if old is None or view.pid != old.pid or not old.is_alive():
            count += 1
    return count


def kept_label(kept: Sequence[bool]) -> str:
    """``yes`` if every run kept the daemon's pid, ``no`` if none did, else ``k of n``."""
    if all(kept):
        return "yes"
    if not any(kept):
        return "no"
    return f"{sum(kept)} of {len(kept)}"


def upgrade_supervisor(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    """Each system's own way to upgrade its daemon with N apps running, alternating systems."""
    n = UPGRADE_APPS
    section = Section(
        f"Upgrading the supervisor, {n} apps running",
        [
            *("system", "command", "runs", "apps restarted median", "apps restarted max"),
            *("time back min", "time back median", "time back max", "command returned"),
            "daemon pid kept",
        ],
    )
    runs_of: dict[str, list[UpgradeRun]] = {name: [] for name in systems}
    labels: dict[str, str] = {}
    for _ in range(plan.upgrade_runs):
        for name, make in systems.items():
            with _fresh(make, env) as system:
                labels[name] = system.upgrade_label()
                runs_of[name].append(_upgrade_once(system, n))
    restarts: dict[str, Summary] = {}
    backs: dict[str, Summary] = {}
    for name, runs in runs_of.items():
        restarts[name] = Summary.of([float(r.restarted) for r in runs])
        backs[name] = Summary.of([r.back for r in runs])
        section.rows.append(
            [
                name,
                labels[name],
                str(len(runs)),
                f"{statistics.median(r.restarted for r in runs):g}",
                str(max(r.restarted for r in runs)),
                f"{backs[name].min:.3f} s",
                f"{backs[name].median:.3f} s",
                f"{backs[name].max:.3f} s",
                f"{statistics.median(r.returned for r in runs):.3f} s",
                kept_label([r.daemon_kept for r in runs]),
            ]
        )
    section.comparisons += [
        Comparison(f"apps restarted by a supervisor upgrade, {n} apps", "apps", True, restarts),
        Comparison("supervisor upgrade → all apps running again", "s", True, backs),
    ]
    section.notes += [
        f"Each run in a fresh home: the daemon is started with {n} apps `sleep 100000` and "
        "the bench waits until status shows all running, noting each app's pid (and its "
        "start time) and the daemon's pid; runs alternate between the systems. Then the "
        "clock starts and the bench runs the system's own way to replace the running "
        "supervisor program with the installed one (*command*): `procward upgrade` (the "
        "daemon execs the installed procward in place, same pid, keeping its children; "
        "the command returns once the new program answers), `pm2 update` (with the run's "
        "`PM2_HOME`: it dumps the process list, kills the daemon, spawns it again and "
        "resurrects the list). **supervisord and Circus have no in-place upgrade**: their "
        "equivalent is a shutdown and a start, `supervisorctl shutdown` / `circusctl quit "
        "--waiting`, the bench waiting until the daemon process is gone, then "
        "`supervisord -c` / `circusd --daemon` with the same config, waiting until it "
        "answers.",
        "*command returned*: when those command(s) returned (median). *time back*: from "
        "the start of the command(s) until the reply to the first status poll (over a new "
        f"persistent connection, {POLL * 1e3:g} ms between polls) that shows the daemon "
        f"answering and all {n} apps running. *apps restarted*: apps whose process "
        "afterwards is not the one noted before (another pid, or that pid no longer the "
        "same process). *daemon pid kept*: the daemon's pid (its pidfile or daemon.json) "
        "is the same afterwards, in every run.",
    ]
    return section


def _upgrade_once(system: AppSystem, n: int) -> UpgradeRun:
    view = _up(system, sleep_apps(n))
    before = {(v.app, v.index): procs.proc(v.pid) for v in view if v.pid is not None}
    daemon_before = system.daemon_pid()
    system.disconnect()
    clock = time.perf_counter
    t0 = clock()
    system.upgrade()
    returned = clock() - t0
    while True:
        try:
            after = system.instances()
        except (OSError, KitError, RuntimeError):  # not answering yet
            system.disconnect()
            after = None
        replied = clock() - t0
        if after is not None and _all_running(after, n):
            break
        if replied > UP_TIMEOUT:
            raise RuntimeError(
                f"{system.name}: {n} apps not all running {UP_TIMEOUT:g} s after "
                f"{system.upgrade_label()}: {after}"
            )
        time.sleep(POLL)
    system.attach()  # the daemon serving now: the one clean-up ends
    return UpgradeRun(
        back=replied,
        returned=returned,
        restarted=restarted_apps(before, after),
        daemon_kept=system.daemon_pid() == daemon_before,
    )
