"""Scale: 2,000 and 5,000 apps, every system that gets there in time.

For each N of ``Plan.scale_counts``: the machine's floor first (this Python
process ``posix_spawn``s N ``sleep``s, then ends them: what no supervisor
can beat), then each system once, alternating: the cold start to N apps
running (within ``SCALE_TIMEOUT``; a system that does not get there is said
to, and measured no further), ``status`` from the shell at N apps (median
of ``STATUS_ROUNDS``), and the daemon's RSS, with its cost per app against
a daemon of the same system running ``BASE_APPS`` apps.

Budgets (issue 18), procward: cold start to 2,000 apps within 2 x the
floor, ``status`` at 2,000 apps ≤ 60 ms, RSS per app ≤ 12 KiB.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Mapping

from bench.measure import CommandFailed, Summary, alternating
from bench.scenarios import Check, Comparison, Section, mib
from bench.supervision import Plan, _cold_start_once, _fresh, _settled_memory, _up, sleep_apps
from bench.systems import AppSystemFactory

SCALE_TIMEOUT = 240.0  # seconds for a cold start to N apps
STATUS_ROUNDS = 5
BASE_APPS = 10
FLOOR_RATIO = 2.0  # cold start to 2,000 within this many floors
STATUS_MS = 60.0  # at 2,000 apps
RSS_PER_APP_KIB = 12.0


def scale(systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan) -> Section:
    section = Section(
        "Scale: N apps, each system once (those that get there in time)",
        ["system", "apps", "cold start", "x floor", "`status`", "RSS", "RSS per app"],
    )
    if not plan.scale_counts:
        section.notes.append("Not measured in a quick run.")
        return section
    base = _base_memory(systems, env)
    for n in plan.scale_counts:
        floor = spawn_floor(n)
        section.rows.append(
            ["(floor: posix_spawn from Python)", str(n), f"{floor:.2f} s"] + [""] * 4
        )
        starts: dict[str, Summary] = {}
        for name, make in systems.items():
            with _fresh(make, env) as system:
                # A system that does not get there, or stops answering on the way
                # (supervisord's XML-RPC timed out at 5,000 apps), is said so in its
                # row: the run, and what it measured before, goes on.
                try:
                    run = _cold_start_once(system, n, 0.1, SCALE_TIMEOUT)
                    system.disconnect()
                    status = statistics.median(
                        alternating([system.status_command()], STATUS_ROUNDS, 1)[
                            system.status_command().label
                        ]
                    )
                except (RuntimeError, OSError, CommandFailed, subprocess.SubprocessError) as exc:
                    section.rows.append([name, str(n), f"not there: {exc}"] + [""] * 4)
                    continue
                rss = _settled_memory(system)["VmRSS"]
                per_app = (rss - base[name]) / (n - BASE_APPS) if name in base else None
                starts[name] = Summary.of([run.running])
                section.rows.append(
                    [
                        name,
                        str(n),
                        f"{run.running:.2f} s",
                        f"{run.running / floor:.1f}x",
                        f"{status * 1e3:.0f} ms",
                        mib(rss),
                        f"{per_app:.1f} KiB" if per_app is not None else "—",
                    ]
                )
                if system.under_test and n == 2000:
                    section.checks += _checks(name, run.running, floor, status, per_app)
        section.comparisons.append(Comparison(f"cold start to {n} apps running", "s", True, starts))
    section.notes.append(
        f"Each system in a fresh home; *cold start* as in the cold start table (a status poll "
        f"every 0.1 s), within {SCALE_TIMEOUT:g} s; *x floor*: over the floor; *`status`*: "
        f"the median of {STATUS_ROUNDS} from the shell; *RSS per app*: (VmRSS at N - VmRSS "
        f"of the same system with {BASE_APPS} apps) / (N - {BASE_APPS}). Budgets (procward, "
        f"2,000 apps): cold start ≤ {FLOOR_RATIO:g} x floor, `status` ≤ {STATUS_MS:g} ms, "
        f"RSS per app ≤ {RSS_PER_APP_KIB:g} KiB (issue 18)."
    )
    return section


def spawn_floor(n: int) -> float:
    """Seconds for this process to ``posix_spawn`` ``n`` ``sleep``s (then ended)."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    pids = []
    started = time.perf_counter()
    try:
        for _ in range(n):
            pids.append(
                os.posix_spawnp("sleep", ["sleep", "100000"], os.environ, file_actions=devnull)
            )
        return time.perf_counter() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)


def _base_memory(systems: Mapping[str, AppSystemFactory], env: Mapping[str, str]) -> dict[str, int]:
    base = {}
    for name, make in systems.items():
        with _fresh(make, env) as system:
            _up(system, sleep_apps(BASE_APPS))
            system.disconnect()
            base[name] = _settled_memory(system)["VmRSS"]
    return base


def _checks(
    name: str, running: float, floor: float, status: float, per_app: float | None
) -> list[Check]:
    checks = [
        Check(
            f"{name}: cold start to 2000 apps",
            f"{running / floor:.1f}x floor",
            f"≤ {FLOOR_RATIO:g}x floor (issue 18)",
            running <= FLOOR_RATIO * floor,
        ),
        Check(
            f"{name}: `status` at 2000 apps",
            f"{status * 1e3:.0f} ms",
            f"≤ {STATUS_MS:g} ms (issue 18)",
            status * 1e3 <= STATUS_MS,
        ),
    ]
    if per_app is not None:
        checks.append(
            Check(
                f"{name}: RSS per app",
                f"{per_app:.1f} KiB",
                f"≤ {RSS_PER_APP_KIB:g} KiB (issue 18)",
                per_app <= RSS_PER_APP_KIB,
            )
        )
    return checks


__all__ = ["scale", "spawn_floor"]
