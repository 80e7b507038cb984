"""A crash storm, held for minutes: does the supervisor stay flat?

``CHURN_APPS`` apps each exit 50 ms after they start and are restarted at
once (no backoff, a budget the run cannot spend), for ``Plan.churn_marks[-1]``
seconds. At each mark the supervisor's resident memory, its open file
descriptors (the peak of a 0.1 s sampling since the last mark) and its CPU
time per restart since the last mark are reported. Every system runs the
same apps; restarts are counted by the apps themselves (each start appends
a byte to one file), so no system's own count is trusted. The full run also
holds procward in the storm for ``Plan.churn_soak`` seconds.

Budgets (issue 18), procward: RSS growth after the first minute ≤ 1 MiB, file
descriptors ≤ 4 x apps + 64 at every sample, CPU ≤ 0.5 ms per restart.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench import procs
from bench.measure import Summary
from bench.measure import run as run_command
from bench.scenarios import Check, Comparison, Section, mib
from bench.supervision import UP_TIMEOUT, Plan, _fresh
from bench.systems import AppDef, AppSystem, AppSystemFactory

CHURN_APPS = 20
LIFETIME = 0.05  # seconds each run of an app lasts
FD_POLL = 0.1  # seconds between two counts of the supervisor's descriptors
RSS_GROWTH_KIB = 1024  # after the first minute
FDS_LIMIT = 4 * CHURN_APPS + 64
CPU_PER_RESTART_MS = 0.5


@dataclass(frozen=True, slots=True)
class Mark:
    at: float  # seconds into the storm
    rss_kib: int
    fds_peak: int  # since the previous mark
    restarts: int  # since the previous mark
    cpu_ns: int  # since the previous mark


def churn(systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan) -> Section:
    minutes = plan.churn_marks[-1] / 60
    section = Section(
        f"Crash storm: {CHURN_APPS} apps exiting after {LIFETIME * 1000:g} ms, restarted at "
        f"once, {minutes:g} min",
        ["system", "at", "restarts/s", "RSS", "fds peak", "CPU % of a core", "CPU per restart"],
    )
    growth: dict[str, Summary] = {}
    per_restart: dict[str, Summary] = {}
    for name, make in systems.items():
        with _fresh(make, env) as system:
            marks = _storm(system, plan.churn_marks)
            under_test = system.under_test
        _rows(section, name, marks)
        if under_test:
            section.checks += _checks(name, marks)
        growth[name] = Summary.of([_growth_kib(marks) / 1024])
        per_restart[name] = Summary.of([_cpu_per_restart_ms(marks)])
    section.comparisons += [
        Comparison("crash storm: RSS growth after the first minute", "MiB", True, growth),
        Comparison("crash storm: CPU per restart", "ms", True, per_restart),
    ]
    if "procward" in systems and plan.churn_soak:
        soak = tuple(plan.churn_soak * i / 6 for i in range(7))
        with _fresh(systems["procward"], env) as system:
            marks = _storm(system, soak)
        _rows(section, f"procward, {plan.churn_soak / 60:g} min soak", marks)
        section.checks += _checks("procward (soak)", marks)
    section.notes.append(
        f"Each app is `sh -c 'printf x >> FILE; exec sleep {LIFETIME:g}'`, restart always, "
        "no backoff, a restart budget the run cannot spend; restarts are the bytes in FILE "
        "(counted by the apps, not by the supervisor). *RSS*: VmRSS of the supervisor's main "
        f"process at the mark; *fds peak*: the most descriptors it held, counted every "
        f"{FD_POLL:g} s since the previous mark; *CPU*: its time on a CPU (every thread, "
        "schedstat) since the previous mark, per restart counted in that time. Budgets "
        f"(procward): RSS growth after the first minute ≤ {RSS_GROWTH_KIB // 1024} MiB, fds ≤ "
        f"4 x apps + 64 = {FDS_LIMIT}, CPU ≤ {CPU_PER_RESTART_MS:g} ms per restart."
    )
    return section


def _storm(system: AppSystem, marks_at: Sequence[float]) -> list[Mark]:
    counter = os.path.join(system.home, "starts")
    open(counter, "wb").close()
    script = f"printf x >> {counter}; exec sleep {LIFETIME:g}"
    apps = [AppDef(f"c{i}", ("sh", "-c", script), restart_at_once=True) for i in range(CHURN_APPS)]
    run_command(system.up_command(system.write_config(apps)), timeout=UP_TIMEOUT)
    system.attach()
    pid = system.daemon_pid()
    marks: list[Mark] = []
    started = time.monotonic()
    cpu, restarts, peak = procs.cpu(pid).runtime_ns, os.path.getsize(counter), 0
    for at in marks_at:
        while (now := time.monotonic() - started) < at:
            peak = max(peak, _fds(pid))
            time.sleep(min(FD_POLL, at - now))
        peak = max(peak, _fds(pid))
        cpu_now, restarts_now = procs.cpu(pid).runtime_ns, os.path.getsize(counter)
        rss = procs.memory_kib(pid).get("VmRSS", 0)
        marks.append(Mark(at, rss, peak, restarts_now - restarts, cpu_now - cpu))
        cpu, restarts, peak = cpu_now, restarts_now, 0
    return marks


def _fds(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0


def _rows(section: Section, name: str, marks: Sequence[Mark]) -> None:
    previous = 0.0
    for m in marks:
        span = m.at - previous
        previous = m.at
        per_restart = f"{m.cpu_ns / m.restarts / 1e6:.2f} ms" if m.restarts else "—"
        section.rows.append(
            [
                name,
                f"{m.at / 60:g} min",
                f"{m.restarts / span:.0f}" if span else "—",
                mib(m.rss_kib),
                str(m.fds_peak),
                f"{m.cpu_ns / 1e9 / span * 100:.1f} %" if span else "—",
                per_restart if span else "—",
            ]
        )


def _growth_kib(marks: Sequence[Mark]) -> int:
    """RSS at the end less RSS at the first mark a minute in (the rings are full by then)."""
    after_first = [m for m in marks if m.at >= 60] or [marks[-1]]
    return marks[-1].rss_kib - after_first[0].rss_kib


def _cpu_per_restart_ms(marks: Sequence[Mark]) -> float:
    storm = [m for m in marks if m.at > 0]
    restarts = sum(m.restarts for m in storm)
    return sum(m.cpu_ns for m in storm) / restarts / 1e6 if restarts else float("inf")


def _checks(name: str, marks: Sequence[Mark]) -> list[Check]:
    growth = _growth_kib(marks)
    worst_fds = max(m.fds_peak for m in marks)
    per_restart = _cpu_per_restart_ms(marks)
    return [
        Check(
            f"{name}: crash storm, RSS growth after the first minute",
            f"{growth / 1024:+.2f} MiB",
            f"≤ {RSS_GROWTH_KIB // 1024} MiB (issue 18)",
            growth <= RSS_GROWTH_KIB,
        ),
        Check(
            f"{name}: crash storm, file descriptors at every sample",
            f"{worst_fds}",
            f"≤ {FDS_LIMIT} (issue 18)",
            worst_fds <= FDS_LIMIT,
        ),
        Check(
            f"{name}: crash storm, CPU per restart",
            f"{per_restart:.2f} ms",
            f"≤ {CPU_PER_RESTART_MS:g} ms (issue 18)",
            per_restart <= CPU_PER_RESTART_MS,
        ),
    ]
