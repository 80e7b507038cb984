"""Command line, configuration and the order of a run."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import (
    budgets,
    chart,
    churn,
    dashboard,
    fleet,
    logcapture,
    logwriter,
    machine,
    reload_load,
    reload_ways,
    report,
    scale,
    scenarios,
    summary,
    supervision,
    upgrade,
)
from bench.circus_peer import METHOD_NOTE as CIRCUS_NOTE
from bench.measure import CommandFailed
from bench.peers import PeerUnavailable
from bench.pm2_peer import METHOD_NOTE as PM2_NOTE
from bench.supervisord import METHOD_NOTE as SUPERVISORD_NOTE
from bench.systems import APP_SYSTEMS, SYSTEMS, AppSystem, AppSystemFactory, System

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# In the order a run measures them.
PARTS = ("kit", "supervision", "upgrade", "reload", "logs", "fleet")
# Variables that would distort start-up times: the first is the explicit
# condition (bytecode must be written and used), the others are diagnostics.
DROPPED_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
    "PYTHONVERBOSE",
    "PYTHONMALLOCSTATS",
)


@dataclass(frozen=True, slots=True)
class Config:
    quick: bool
    reps: int
    warmup: int
    calls: int
    call_warmup: int
    out: Path
    parts: tuple[str, ...]  # PARTS, or some of them
    plan: supervision.Plan
    log_plan: logcapture.LogPlan
    peers: bool  # measure the peers (supervisord) alongside procward
    check: bool = False  # judge procward's rows against bench/budgets.toml
    scenarios: tuple[str, ...] = ()  # of the supervision part; () = all of them

    @property
    def report_path(self) -> Path:
        if self.quick:
            return self.out / "quick-latest.md"
        date = datetime.date.today().isoformat()
        if self.scenarios:
            return self.out / f"{date}-{'-'.join(self.scenarios)}.md"
        if len(self.parts) == 1:
            return self.out / f"{date}-{self.parts[0]}.md"
        return self.out / f"{date}.md"


def parse(argv: Sequence[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure procward against its performance budgets."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="procward alone, fewer repetitions (< 2 minutes), for development",
    )
    parser.add_argument("--reps", type=_positive, help="CLI rounds (default 40, quick 10)")
    parser.add_argument("--calls", type=_positive, help="RPC calls (default 20000, quick 3000)")
    parser.add_argument(
        "--idle", type=_positive, help="seconds of the idle-CPU window (default 30, quick 5)"
    )
    parser.add_argument(
        "--only",
        choices=PARTS,
        help="only the kit scenarios (empty daemon), the supervision ones (apps), the "
        "supervisor upgrade with apps running, reloads of an HTTP app under load, log "
        "capture, or the fleet (on Redis)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SUPERVISION_SCENARIOS),
        help="only this scenario of the supervision part (repeatable; implies --only supervision)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        help="seconds of the procward crash-storm soak (full run default 1800; 0: none)",
    )
    parser.add_argument(
        "--log-lines",
        type=_positive,
        help="lines of one log burst, instead of the default bursts (2M lines of 100 bytes "
        "and 2M of 16; quick: 500k of 100 and 2M of 16)",
    )
    parser.add_argument(
        "--log-width",
        type=_positive,
        help="bytes per line of that burst, newline included (default 100; min 9)",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="measure procward alone (no supervisord)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="a quick run of procward alone (kit and supervision, 500 apps too), its rows "
        "checked against bench/budgets.toml: exit status 1 when one got worse",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="report directory")
    args = parser.parse_args(argv)
    quick: bool = args.quick or args.check
    reps = args.reps or (10 if quick else 40)
    warmup = 2 if quick else 3
    plan = supervision.Plan(
        cold_counts=(10, 100) if quick and not args.check else (10, 100, 500),
        cold_runs=1 if quick else 5,
        cold_poll=0.02,  # each status poll of 500 apps costs the daemon ~10 ms: keep it light
        crash_samples=5 if quick else 30,
        crash_warmup=1 if quick else 2,
        rss_counts=(10, 100) if quick and not args.check else (10, 100, 500),
        idle_seconds=args.idle or (5 if quick else 30),
        idle_windows=1 if quick else 5,
        status_counts=(10, 500),
        status_rounds=reps,
        status_warmup=warmup,
        stop_samples=1 if quick else 5,
        upgrade_runs=2 if quick else 5,
        churn_marks=(0, 30, 60, 90) if quick else (0, 60, 180, 300),
        churn_soak=args.soak if args.soak is not None else 0 if quick else 1800,
        scale_counts=() if quick else (2000, 5000),
        reloads=2 if quick else 5,
    )
    if args.log_width is not None and args.log_width < logwriter.MIN_WIDTH:
        parser.error(f"--log-width must be at least {logwriter.MIN_WIDTH}")
    if args.log_lines or args.log_width:
        bursts: tuple[logcapture.Burst, ...] = (
            logcapture.Burst(args.log_lines or 2_000_000, args.log_width or 100),
        )
    else:
        # 100-byte lines make MB/s meaningful; 2M lines of 16 bytes are DESIGN.md's 32 MB
        # burst, where per-line costs (timestamps) weigh most.
        bursts = (logcapture.Burst(500_000 if quick else 2_000_000, 100),)
        bursts += (logcapture.Burst(2_000_000, 16),)
    log_plan = logcapture.LogPlan(bursts, rounds=1 if quick else 5)
    return Config(
        quick=quick,
        reps=reps,
        warmup=warmup,
        calls=args.calls or (3000 if quick else 20000),
        call_warmup=300 if quick else 1000,
        out=args.out,
        parts=("supervision",)
        if args.scenario
        else (args.only,)
        if args.only
        else ("kit", "supervision")
        if args.check
        else PARTS,
        scenarios=tuple(args.scenario or ()),
        plan=plan,
        log_plan=log_plan,
        peers=not (args.no_peers or quick),  # quick: procward alone, for development
        check=args.check,
    )


# The supervision part's scenarios, in the order a run measures them.
SUPERVISION_SCENARIOS: dict[str, supervision.ScenarioFn] = {
    fn.__name__: fn
    for fn in [
        *supervision.SCENARIOS,
        dashboard.dashboard_cpu,
        dashboard.first_render,
        dashboard.live_updates,
        churn.churn,
        scale.scale,
    ]
}

PEER_NOTES = {"supervisord": SUPERVISORD_NOTE, "circus": CIRCUS_NOTE, "pm2": PM2_NOTE}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def child_environment() -> dict[str, str]:
    """Our environment minus what distorts timings and any PROCWARD_* setting."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in DROPPED_ENV and not key.startswith("PROCWARD_")
    }


def compile_bytecode(env: Mapping[str, str]) -> Path:
    """Compile procward's sources so no timed run pays for compiling them."""
    import procward

    package = Path(procward.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True)
    return package


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt so clean-up code runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def available(
    factories: Mapping[str, Callable[[Mapping[str, str]], System]],
    env: Mapping[str, str],
    cfg: Config,
    warnings: list[str],
) -> list[str]:
    """The systems this run can measure: procward, and each peer that is installed or
    can be installed now (its first use installs it)."""
    names = []
    for name, make in factories.items():
        if name != "procward" and not cfg.peers:
            continue
        try:
            make(env).cleanup()
        except PeerUnavailable as exc:
            warnings.append(f"{name}: not measured: {exc}")
            print(f"bench: {name} not measured: {exc}", file=sys.stderr)
            continue
        names.append(name)
    return names


def measure(
    cfg: Config, env: Mapping[str, str]
) -> tuple[list[scenarios.Section], list[str], list[str]]:
    """Run every scenario; return the report sections, the systems' warnings and the
    names of the systems measured."""
    sections: list[scenarios.Section] = []
    warnings: list[str] = []
    app_names = available(APP_SYSTEMS, env, cfg, warnings)
    app_systems = {name: APP_SYSTEMS[name] for name in app_names}
    if "kit" in cfg.parts:
        systems: list[System] = []
        kit = [SYSTEMS[name] for name in SYSTEMS if name in app_names or name == "procward"]
        with contextlib.ExitStack() as stack:
            systems += [stack.enter_context(make(env)) for make in kit]
            started = scenarios.start_daemons(systems)
            floors = scenarios.floor_commands(env)
            sections += [
                scenarios.cli_wall_time(systems, floors, rounds=cfg.reps, warmup=cfg.warmup),
                scenarios.rpc_round_trip(systems, calls=cfg.calls, warmup=cfg.call_warmup),
                scenarios.daemon_memory(systems, started),
            ]
            stopped = {system.name: system.stop() for system in systems}
            sections.append(scenarios.lifecycle(systems, started, stopped))
        warnings += [f"{system.name}: {w}" for system in systems for w in system.warnings]
    if "supervision" in cfg.parts:
        # Each scenario makes (and cleans up) fresh systems; collect what they warned about.
        factories, made = _recording(app_systems)
        for name, scenario in SUPERVISION_SCENARIOS.items():
            if cfg.scenarios and name not in cfg.scenarios:
                continue
            print(f"bench: {name.replace('_', ' ')}", file=sys.stderr)
            try:
                result = scenario(factories, env, cfg.plan)
            except (CommandFailed, subprocess.SubprocessError, OSError, RuntimeError) as exc:
                # The rest of the run, and what it measured before, is worth keeping.
                print(f"bench: {name} stopped: {exc}", file=sys.stderr)
                result = _stopped(name, exc)
            sections += result if isinstance(result, list) else [result]
        warnings += [f"{system.name}: {w}" for system in made for w in system.warnings]
    if "upgrade" in cfg.parts:
        print("bench: upgrade supervisor", file=sys.stderr)
        factories, made = _recording(app_systems)
        sections.append(upgrade.upgrade_supervisor(factories, env, cfg.plan))
        warnings += [f"{system.name}: {w}" for system in made for w in system.warnings]
    if "reload" in cfg.parts:
        print("bench: reload under load", file=sys.stderr)
        ways = [(name, make) for name, make in reload_ways.WAYS if name in app_names]
        reload_section, missing = reload_load.reload_under_load(ways, env, cfg.plan.reloads)
        sections.append(reload_section)
        warnings += missing
    if "logs" in cfg.parts:
        print("bench: log capture", file=sys.stderr)
        factories, made = _recording(app_systems)
        log_sections, missing = logcapture.log_capture(factories, env, cfg.log_plan)
        sections += log_sections
        warnings += missing
        warnings += [f"{system.name}: {w}" for system in made for w in system.warnings]
    if "fleet" in cfg.parts:
        print("bench: fleet", file=sys.stderr)
        sections += fleet.sections(cfg.quick)
    return sections, warnings, app_names


def _stopped(name: str, exc: BaseException) -> scenarios.Section:
    """The section of a scenario that an error stopped: a failed check says so."""
    section = scenarios.Section(f"{name.replace('_', ' ')}: stopped", [])
    section.checks.append(scenarios.Check(name, f"stopped: {exc}", "runs to its end", False))
    return section


def _recording(
    factories: Mapping[str, AppSystemFactory],
) -> tuple[dict[str, AppSystemFactory], list[AppSystem]]:
    """The same factories, remembering every system they make (for its warnings)."""
    made: list[AppSystem] = []

    def recording(make: AppSystemFactory) -> AppSystemFactory:
        def factory(env: Mapping[str, str]) -> AppSystem:
            system = make(env)
            made.append(system)
            return system

        return factory

    return {name: recording(make) for name, make in factories.items()}, made


def reproduce_command(argv: Sequence[str]) -> str:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO)
    return shlex.join([str(python), "-m", "bench", *argv])


def method_notes(cfg: Config, package: Path, measured: Sequence[str]) -> list[str]:
    removed = ", ".join(f"`{key}`" for key in DROPPED_ENV if key in os.environ) or "none was set"
    peers = [PEER_NOTES[name] for name in measured if name in PEER_NOTES]
    return [
        f"Mode: {'quick' if cfg.quick else 'full'}. Each system runs in its own temporary "
        "home (`PROCWARD_HOME=/tmp/pwb-*`), removed afterwards; every measurement with apps "
        "(each row of the supervision tables, each cold-start run) in a fresh one.",
        f"`python -m compileall -q {package}` ran first. Children get the bench's environment "
        f"without `PYTHONDONTWRITEBYTECODE` and Python's start-up diagnostics "
        f"(removed: {removed}).",
        f"`python` in the tables is the interpreter running the bench (`{sys.executable}`); "
        "`procward` is the console script next to it.",
        *peers,
    ]


def main(argv: Sequence[str]) -> int:
    cfg = parse(argv)
    cfg.out.mkdir(parents=True, exist_ok=True)
    env = child_environment()
    try:
        with terminate_as_interrupt():
            package = compile_bytecode(env)
            description = machine.describe(REPO)
            sections, warnings, measured = measure(cfg, env)
    except KeyboardInterrupt:
        print("bench: interrupted; daemons stopped", file=sys.stderr)
        return 130
    except (CommandFailed, subprocess.SubprocessError, OSError, RuntimeError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    mode = "quick" if cfg.quick else "full"
    title = f"procward benchmark, {datetime.date.today().isoformat()} ({mode})"
    rows = summary.summary_rows([c for section in sections for c in section.comparisons])
    chart_path = cfg.report_path.with_suffix(".png")
    chart_name: str | None = None
    if any(row.peers for row in rows):
        subtitle = ", ".join(f"{key} {value}" for key, value in description[:3])
        problem = chart.render(rows, chart_path, title, subtitle)
        if problem is None:
            chart_name = chart_path.name
            print(f"bench: wrote {chart_path}", file=sys.stderr)
        else:
            warnings.append(problem)
    text = report.Report(
        title=title,
        machine=description,
        reproduce=reproduce_command(argv),
        sections=sections,
        method=method_notes(cfg, package, measured),
        warnings=warnings,
        summary=summary.markdown(rows) if rows else (),
        chart=chart_name,
    ).markdown()
    print(text)
    cfg.report_path.write_text(text)
    print(f"bench: wrote {cfg.report_path}", file=sys.stderr)
    if cfg.check:
        verdicts = budgets.judge(
            budgets.load(), [c for section in sections for c in section.comparisons]
        )
        print(f"\n## Against {budgets.BUDGETS.name}\n\n{budgets.render(verdicts)}")
        return 0 if all(v.ok for v in verdicts) else 1
    return 0
