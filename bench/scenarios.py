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
from bench.peers import node_runtime
from bench.systems import System

FLOOR_PASS = "python -c pass"
FLOOR_IMPORT = 'python -c "import socket, json"'
FLOOR_NODE = "node -e 0"  # PM2's CLI is a node program: its floor
PASS_MARK = "pass"
FAIL_MARK = "**FAIL**"


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    source: str


@dataclass(frozen=True, slots=True)
class CliBudget:
    max_ratio: Limit | None = None  # median over the FLOOR_IMPORT median
    max_ms: Limit | None = None  # median, milliseconds

    def describe(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio.value:g}x floor")
        if self.max_ms is not None:
            parts.append(f"≤ {self.max_ms.value:g} ms")
        return ", ".join(parts)


# DESIGN.md's ping row: "≤ 25 ms (floor: `python3 -c pass` ≈ 13 ms)".
DESIGN_PING_MS = 25.0
DESIGN_PASS_MS = 13.0
CLI_BUDGETS: dict[str, CliBudget] = {
    "ping": CliBudget(max_ratio=Limit(1.5, "issue"), max_ms=Limit(DESIGN_PING_MS, "DESIGN.md")),
    "status": CliBudget(max_ms=Limit(40.0, "DESIGN.md, for 10 apps; 0 apps here")),
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


@dataclass(frozen=True, slots=True)
class Comparison:
    """One row of the summary: the same quantity, measured on every system in this run.

    ``values`` maps a system's name ("procward", "supervisord", "circus", "pm2")
    to the min/median/max of its samples, in ``unit``; the summary compares medians.
    """

    what: str  # "cold start, 500 apps"
    unit: str  # "ms", "s", "µs", "MiB", "%", "MB/s", "ms/MB"
    lower_is_better: bool
    values: Mapping[str, Summary]


@dataclass(slots=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)


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
    floors = [
        Command(FLOOR_PASS, (python, "-c", "pass"), env),
        Command(FLOOR_IMPORT, (python, "-c", "import socket, json"), env),
    ]
    node = node_runtime(install=False)  # the machine's, or PM2's private one if installed
    if node is not None:
        floors.append(Command(FLOOR_NODE, (str(node.node), "-e", "0"), env))
    return floors


def cli_wall_time(
    systems: Sequence[System], floors: Sequence[Command], rounds: int, warmup: int
) -> Section:
    """Wall time of CLI commands from the shell, daemons up, in alternating rounds."""
    cases = [(system, case) for system in systems for case in system.cli_cases()]
    commands = [*floors, *(case.command for _, case in cases)]
    samples = alternating(commands, rounds=rounds, warmup=warmup)
    floor = Summary.of(samples[FLOOR_IMPORT]).median
    bare = Summary.of(samples[FLOOR_PASS]).median
    medians = (floor, bare)
    section = Section(
        "CLI wall time from the shell (daemon up)",
        ["command", "min", "median", "max", "x floor", "x pass", "budget", "result"],
    )
    for cmd in floors:
        section.rows.append(_cli_row(cmd.label, Summary.of(samples[cmd.label]), medians))
    by_key: dict[str, dict[str, Summary]] = {}
    for system, case in cases:
        summary = Summary.of(samples[case.command.label])
        budget = CLI_BUDGETS.get(case.key) if system.under_test else None
        checks = _cli_checks(case.command.label, summary, floor, budget)
        section.checks.extend(checks)
        section.rows.append(_cli_row(case.command.label, summary, medians, budget, checks))
        by_key.setdefault(case.key, {})[system.name] = _scaled(summary, 1e3)
    for key, values in by_key.items():
        what = "`ping` from the shell" if key == "ping" else f"`{key}` from the shell, no apps"
        section.comparisons.append(Comparison(what, "ms", True, values))
    section.notes += [
        f"{rounds} alternating rounds after {warmup} warm-up rounds. *x floor*: median over "
        f"the median of `{FLOOR_IMPORT}` (the issue's floor); *x pass*: over `{FLOOR_PASS}`.",
        "Each sample is `time.perf_counter()` around `subprocess.run` (fork, exec, wait), "
        "stdout to /dev/null; bytecode compiled, `PYTHONDONTWRITEBYTECODE` unset.",
        f"DESIGN.md's {DESIGN_PING_MS:g} ms for ping was set where `python3 -c pass` took "
        f"≈ {DESIGN_PASS_MS:g} ms, i.e. {DESIGN_PING_MS / DESIGN_PASS_MS:.2f}x pass; here "
        f"`{FLOOR_PASS}` took {ms(bare)}, so compare *x pass* on a machine of another speed.",
    ]
    return section


def _scaled(summary: Summary, factor: float) -> Summary:
    return Summary(summary.n, summary.min * factor, summary.median * factor, summary.max * factor)


def _cli_checks(
    label: str, summary: Summary, floor: float, budget: CliBudget | None
) -> list[Check]:
    if budget is None:
        return []
    checks = []
    if budget.max_ratio is not None:
        limit, ratio = budget.max_ratio, summary.median / floor
        checks.append(
            Check(
                f"`{label}` median / floor",
                f"{ratio:.2f}x",
                f"≤ {limit.value:g}x ({limit.source})",
                ratio <= limit.value,
            )
        )
    if budget.max_ms is not None:
        limit = budget.max_ms
        checks.append(
            Check(
                f"`{label}` median",
                ms(summary.median),
                f"≤ {limit.value:g} ms ({limit.source})",
                summary.median * 1e3 <= limit.value,
            )
        )
    return checks


def _cli_row(
    label: str,
    summary: Summary,
    floors: tuple[float, float],  # medians of FLOOR_IMPORT and FLOOR_PASS
    budget: CliBudget | None = None,
    checks: Sequence[Check] = (),
) -> list[str]:
    floor, bare = floors
    result = mark(all(c.ok for c in checks)) if checks else "—"
    return [
        f"`{label}`",
        ms(summary.min),
        ms(summary.median),
        ms(summary.max),
        f"{summary.median / floor:.2f}x",
        f"{summary.median / bare:.2f}x",
        budget.describe() if budget else "—",
        result,
    ]


# -- RPC round trip ---------------------------------------------------------------------


def rpc_round_trip(systems: Sequence[System], calls: int, warmup: int, rounds: int = 5) -> Section:
    """Round trips of "ping" on one persistent connection, timed one by one.

    ``rounds`` alternating rounds (procward, supervisord, circus, pm2, procward,
    ...) of ``calls / rounds`` calls each, so that drift hits every system alike;
    the table pools the samples, the summary compares the rounds' p50s.
    """
    section = Section(
        "RPC round trip, persistent connection",
        [
            *("system", "calls", "p50", "p50 of the rounds", "p90", "p99", "max", "calls/s"),
            *("budget", "result"),
        ],
    )
    per_round = max(1, calls // rounds)
    pooled: dict[str, list[int]] = {}
    round_p50s: dict[str, list[float]] = {}
    for _ in range(rounds):
        for system in systems:
            gc.collect()
            samples = system.rpc_round_trips(per_round, warmup)
            if samples is None:
                continue
            pooled.setdefault(system.name, []).extend(samples)
            round_p50s.setdefault(system.name, []).append(percentile(samples, 50))
    for system in systems:
        if system.name not in pooled:
            continue
        samples = pooled[system.name]
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        spread = Summary.of(round_p50s[system.name])
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
                f"{us(spread.min)} to {us(spread.max)}",
                us(percentile(samples, 90)),
                us(p99),
                us(max(samples)),
                f"{len(samples) / (sum(samples) / 1e9):,.0f}",
                f"p50 ≤ {RPC_P50_US:g} µs, p99 ≤ {RPC_P99_US:g} µs" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    values = {name: _scaled(Summary.of(p50s), 1e-3) for name, p50s in round_p50s.items()}
    section.comparisons.append(Comparison("RPC round trip, p50", "µs", True, values))
    section.notes.append(
        f"{rounds} alternating rounds of {per_round} calls per system, each after {warmup} "
        "warm-up calls. procward: in-process client (`procward.kit._client.Client`), method "
        '"ping"; each call timed with `time.perf_counter_ns`; nearest-rank percentiles of '
        "all samples; *p50 of the rounds*: the lowest and highest p50 of a single round."
    )
    return section


# -- memory -------------------------------------------------------------------------------


def daemon_memory(systems: Sequence[System], started: Mapping[str, Started]) -> Section:
    """VmRSS right after start (the budget) and, for context, after the other scenarios."""
    section = Section(
        "Daemon memory",
        ["system", "VmRSS after start", "VmRSS now", "VmHWM now", "loop", "budget", "result"],
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
                _loop(system),
                f"≤ {RSS_MIB:g} MiB" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.notes.append(
        "From /proc/PID/status. *After start*: as soon as `procward up` returned (no apps, "
        "HTTP off); *now*: after the CLI and RPC scenarios. *loop*: `uvloop` if its library "
        "is mapped into the daemon, else `asyncio` (a peer: its own loop)."
    )
    return section


def _loop(system: System) -> str:
    """The daemon's event loop: a peer names its own (``loop_name``)."""
    named = getattr(system, "loop_name", None)
    if isinstance(named, str):
        return named
    return "uvloop" if procs.maps_file(system.daemon_pid(), "uvloop") else "asyncio"


def _rss_ok(rss_kib: int) -> bool:
    return rss_kib <= RSS_MIB * 1024
