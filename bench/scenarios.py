"""The measurements, each returning a ``Section`` (a table and its budget checks).

Budgets come from DESIGN.md ("Performance budgets") and the bench issue; they
apply to systems with ``under_test`` set. Peers are timed in the same rounds
and shown in the same tables, as the reference procward must beat.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench import procs
from bench.measure import Command, Summary, alternating, percentile
from bench.systems import System

FLOOR_PASS = "python -c pass"
FLOOR_IMPORT = 'python -c "import socket, json"'
PASS_MARK = "pass"
FAIL_MARK = "**FAIL**"


@dataclass(frozen=True, slots=True)
class CliBudget:
    max_ratio: float | None  # to the FLOOR_IMPORT median
    max_ms: float | None
    source: str

    def describe(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g}x floor")
        if self.max_ms is not None:
            parts.append(f"≤ {self.max_ms:g} ms")
        return ", ".join(parts)


CLI_BUDGETS: dict[str, CliBudget] = {
    "ping": CliBudget(1.5, 25.0, "issue (1.5x import floor); DESIGN.md (25 ms)"),
    "status": CliBudget(None, 40.0, "DESIGN.md (10 apps; measured here with 0 apps)"),
}
RPC_P50_US = 50.0
RPC_P99_US = 500.0
RSS_MIB = 22.0


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    measured: str
    budget: str
    ok: bool


@dataclass(slots=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Started:
    """What ``start_daemons`` saw of one system: ``up`` wall time, memory right after."""

    seconds: float
    memory_kib: Mapping[str, int]


def mark(ok: bool) -> str:
    return PASS_MARK if ok else FAIL_MARK


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def us(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e3:.1f} µs"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


# -- lifecycle ------------------------------------------------------------------------


def start_daemons(systems: Sequence[System]) -> dict[str, Started]:
    """Start every system; read its daemon's memory the moment ``start`` returns."""
    started: dict[str, Started] = {}
    for system in systems:
        seconds = system.start()
        started[system.name] = Started(seconds, procs.memory_kib(system.daemon_pid()))
    return started


def lifecycle(
    systems: Sequence[System], started: Mapping[str, Started], stopped: Mapping[str, float]
) -> Section:
    section = Section("Daemon start and stop (one sample each)", ["system", "start", "stop"])
    for system in systems:
        stop = stopped.get(system.name)
        stop_text = ms(stop) if stop is not None else "—"
        section.rows.append([system.name, ms(started[system.name].seconds), stop_text])
    section.notes.append(
        "procward: `procward up` (spawn, wait for ready, one ping) and `procward down`. "
        "Informational; no budget for an empty daemon."
    )
    return section


# -- CLI wall time ----------------------------------------------------------------------


def floor_commands(env: Mapping[str, str]) -> list[Command]:
    python = sys.executable
    return [
        Command(FLOOR_PASS, (python, "-c", "pass"), env),
        Command(FLOOR_IMPORT, (python, "-c", "import socket, json"), env),
    ]


def cli_wall_time(
    systems: Sequence[System], floors: Sequence[Command], rounds: int, warmup: int
) -> Section:
    """Wall time of CLI commands from the shell, daemons up, in alternating rounds."""
    cases = [(system, case) for system in systems for case in system.cli_cases()]
    commands = [*floors, *(case.command for _, case in cases)]
    samples = alternating(commands, rounds=rounds, warmup=warmup)
    floor = Summary.of(samples[FLOOR_IMPORT]).median
    section = Section(
        "CLI wall time from the shell (daemon up)",
        ["command", "min", "median", "max", "x floor", "budget", "result"],
    )
    for cmd in floors:
        section.rows.append(_cli_row(cmd.label, Summary.of(samples[cmd.label]), floor))
    for system, case in cases:
        summary = Summary.of(samples[case.command.label])
        budget = CLI_BUDGETS.get(case.key) if system.under_test else None
        checks = _cli_checks(case.command.label, summary, floor, budget)
        section.checks.extend(checks)
        section.rows.append(_cli_row(case.command.label, summary, floor, budget, checks))
    section.notes += [
        f"{rounds} alternating rounds after {warmup} warm-up rounds; "
        f"x floor is the median over the median of `{FLOOR_IMPORT}`.",
        "Each sample is `time.perf_counter()` around `subprocess.run` (fork, exec, wait), "
        "stdout to /dev/null; bytecode compiled, `PYTHONDONTWRITEBYTECODE` unset.",
    ]
    return section


def _cli_checks(
    label: str, summary: Summary, floor: float, budget: CliBudget | None
) -> list[Check]:
    if budget is None:
        return []
    checks = []
    if budget.max_ratio is not None:
        ratio = summary.median / floor
        checks.append(
            Check(
                f"`{label}` median / floor",
                f"{ratio:.2f}x",
                f"≤ {budget.max_ratio:g}x ({budget.source})",
                ratio <= budget.max_ratio,
            )
        )
    if budget.max_ms is not None:
        checks.append(
            Check(
                f"`{label}` median",
                ms(summary.median),
                f"≤ {budget.max_ms:g} ms ({budget.source})",
                summary.median * 1e3 <= budget.max_ms,
            )
        )
    return checks


def _cli_row(
    label: str,
    summary: Summary,
    floor: float,
    budget: CliBudget | None = None,
    checks: Sequence[Check] = (),
) -> list[str]:
    result = mark(all(c.ok for c in checks)) if checks else "—"
    return [
        f"`{label}`",
        ms(summary.min),
        ms(summary.median),
        ms(summary.max),
        f"{summary.median / floor:.2f}x",
        budget.describe() if budget else "—",
        result,
    ]


# -- RPC round trip ---------------------------------------------------------------------


def rpc_round_trip(systems: Sequence[System], calls: int, warmup: int) -> Section:
    """Round trips of "ping" on one persistent connection, timed one by one."""
    section = Section(
        "RPC round trip, persistent connection",
        ["system", "calls", "p50", "p90", "p99", "max", "calls/s", "budget", "result"],
    )
    for system in systems:
        gc.collect()
        samples = system.rpc_round_trips(calls, warmup)
        if samples is None:
            continue
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        checks = []
        if system.under_test:
            checks = [
                Check("RPC p50", us(p50), f"≤ {RPC_P50_US:g} µs", p50 <= RPC_P50_US * 1e3),
                Check("RPC p99", us(p99), f"≤ {RPC_P99_US:g} µs", p99 <= RPC_P99_US * 1e3),
            ]
        section.checks.extend(checks)
        section.rows.append(
            [
                system.name,
                str(len(samples)),
                us(p50),
                us(percentile(samples, 90)),
                us(p99),
                us(max(samples)),
                f"{len(samples) / (sum(samples) / 1e9):,.0f}",
                f"p50 ≤ {RPC_P50_US:g} µs, p99 ≤ {RPC_P99_US:g} µs" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.notes.append(
        f'In-process client (`procward.kit.client.Client`), method "ping", {warmup} warm-up '
        "calls, then each call timed with `time.perf_counter_ns`; nearest-rank percentiles."
    )
    return section


# -- memory -------------------------------------------------------------------------------


def daemon_memory(systems: Sequence[System], started: Mapping[str, Started]) -> Section:
    """VmRSS right after start (the budget) and, for context, after the other scenarios."""
    section = Section(
        "Daemon memory",
        ["system", "VmRSS after start", "VmRSS now", "VmHWM now", "budget", "result"],
    )
    for system in systems:
        rss = started[system.name].memory_kib["VmRSS"]
        now = procs.memory_kib(system.daemon_pid())
        checks = []
        if system.under_test:
            checks = [
                Check("daemon VmRSS after start", mib(rss), f"≤ {RSS_MIB:g} MiB", _rss_ok(rss))
            ]
        section.checks.extend(checks)
        section.rows.append(
            [
                system.name,
                mib(rss),
                mib(now["VmRSS"]),
                mib(now["VmHWM"]),
                f"≤ {RSS_MIB:g} MiB" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.notes.append(
        "From /proc/PID/status. *After start*: as soon as `procward up` returned (no apps, "
        "HTTP off); *now*: after the CLI and RPC scenarios."
    )
    return section


def _rss_ok(rss_kib: int) -> bool:
    return rss_kib <= RSS_MIB * 1024
