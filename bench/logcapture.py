"""Log capture: one app printing numbered lines as fast as it can, the output on disk.

The app (``bench/logwriter.py``) prints ``LINES`` fixed-width lines
(``0000000 xxx…\\n``) in one burst and exits. It builds its output first and
then waits at a *gate* (a FIFO in the system's home); the clock starts when
the bench releases the gate and stops when the sizes of the app's log file and
its backups add up to everything the app printed (polled every millisecond,
two identical snapshots in a row so that a rename in between cannot fool the
sum). Throughput = bytes the app printed / that time; daemon CPU = the
supervisor process's utime+stime (and schedstat) over the same interval.

Then the files are read oldest first (``.N`` .. ``.1``, then the live one):
with timestamps the prefix of every line is checked and stripped, and the
result must be exactly what the app printed; if not, the lines are counted
(lost, duplicated, out of order, mangled). Every rotated file must end with a
newline, i.e. no line is split across two files; the size limit is chosen so
that at least ``MIN_ROTATIONS`` rotations happen and the backups keep all.

Variants, in alternating rounds (a fresh system for each sample): a
reference pipeline without supervisor (the writer's stdout piped into
``cat > file``: the ceiling of pipe plus page cache on this machine), then
every app system, plus each one that can timestamp lines (procward's
``log_time = true``) once more with timestamps.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench import procs
from bench.logwriter import payload
from bench.measure import Summary, reap
from bench.measure import run as run_command
from bench.scenarios import Check, Comparison, Section, mark
from bench.systems import AppDef, AppSystem, AppSystemFactory, LogSpec

SOURCE = "DESIGN.md"
LOG_TIME_MBPS = 150.0  # the issue: with `log_time = true`, at least this
MIN_ROTATIONS = 3
FILES_PER_BURST = 4.5  # log_max_size = output / this: 4 rotations
BACKUPS = 8  # more than the rotations, so nothing is deleted
APP = "writer"
WRITER = str(Path(__file__).resolve().parent / "logwriter.py")
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", re.MULTILINE)
STAMP_BYTES = len(b"2026-11-22T10:00:00.123Z ")
UP_TIMEOUT = 60.0
GATE_TIMEOUT = 60.0  # for the writer to build its lines and wait at the gate
POLL = 0.001
STALL = 5.0  # no byte for this long (and not all there): the capture is stuck
LIMIT = 300.0
MB = 1e6


@dataclass(frozen=True, slots=True)
class Burst:
    lines: int
    width: int  # bytes per line, newline included

    @property
    def app_bytes(self) -> int:
        return self.lines * self.width


@dataclass(frozen=True, slots=True)
class LogPlan:
    bursts: tuple[Burst, ...]  # one table each
    rounds: int


@dataclass(frozen=True, slots=True)
class Verification:
    files: int
    lost: int
    duplicated: int
    out_of_order: int
    mangled: int  # lines that are not one of the app's lines (cut, joined, garbage)
    split: int  # rotated files that do not end with a newline
    unstamped: int  # timestamps asked for but a line has none


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float | None  # None: never all on disk
    bracket: float  # the true moment lies up to this much earlier
    cpu_ticks: int
    cpu_ns: int
    on_disk: int  # bytes in the files when the clock stopped (or gave up)
    check: Verification

    @property
    def complete(self) -> bool:
        return self.seconds is not None


@dataclass(slots=True)
class Variant:
    label: str
    make: AppSystemFactory | None  # None: the reference pipeline
    timestamps: bool = False
    under_test: bool = False
    samples: list[Sample] = field(default_factory=list)


class Target(Protocol):
    """What one sample needs of a system: start the writer app, where its log goes."""

    home: str

    def launch(self, app: AppDef) -> None: ...

    def files(self, backups: int) -> list[str]: ...

    def cpu_pids(self) -> list[int]: ...

    def __enter__(self) -> Target: ...

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None: ...


class SystemTarget:
    """An ``AppSystem`` running the writer as its only app."""

    def __init__(self, system: AppSystem) -> None:
        self.system = system
        self.home = system.home

    def launch(self, app: AppDef) -> None:
        run_command(self.system.up_command(self.system.write_config([app])), timeout=UP_TIMEOUT)
        self.system.attach()

    def files(self, backups: int) -> list[str]:
        return self.system.log_files(APP, backups)

    def cpu_pids(self) -> list[int]:
        return [self.system.daemon_pid()]

    def __enter__(self) -> SystemTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.system.cleanup()


class CatTarget:
    """No supervisor: ``writer | cat > file``, both children of the bench."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.home = tempfile.mkdtemp(prefix="pwb-cat-", dir="/tmp")
        self.out = os.path.join(self.home, "writer.out")
        self.pids: list[int] = []
        self.cat_pid = 0

    def launch(self, app: AppDef) -> None:
        cat = shutil.which("cat") or "/bin/cat"
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            out = os.open(self.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                self.cat_pid = self._spawn([cat], stdin=read_end, stdout=out)
            finally:
                os.close(out)
            self._spawn(list(app.argv), stdin=None, stdout=write_end)
        finally:
            os.close(read_end)
            os.close(write_end)

    def _spawn(self, argv: list[str], stdin: int | None, stdout: int) -> int:
        actions: list[tuple[int, int, int] | tuple[int, int, str, int, int]]
        actions = [(os.POSIX_SPAWN_DUP2, stdout, 1)]
        if stdin is None:
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, stdin, 0))
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions)
        self.pids.append(pid)
        return pid

    def files(self, backups: int) -> list[str]:
        return [self.out]

    def cpu_pids(self) -> list[int]:
        return [self.cat_pid]

    def __enter__(self) -> CatTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Our own unreaped children: their pids cannot be recycled until we reap them.
        grace = 10.0 if exc_type is None else 0.0
        try:
            for pid in self.pids:
                if reap(pid, grace) is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    reap(pid, 5.0)
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


def log_capture(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: LogPlan
) -> tuple[list[Section], list[str]]:
    """A section per burst, and warnings (a peer that could not be measured)."""
    variants = [Variant("`writer | cat > file` (no supervisor)", None)]
    warnings: list[str] = []
    for name, make in systems.items():
        try:
            probe = make(env)
        except RuntimeError as exc:  # e.g. a peer that cannot be installed
            warnings.append(f"{name}: not measured: {exc}")
            continue
        try:
            under_test, stamps = probe.under_test, probe.supports_timestamps()
        finally:
            probe.cleanup()
        variants.append(Variant(name, make, under_test=under_test))
        if stamps:
            variants.append(Variant(f"{name}, `log_time = true`", make, True, under_test))
    sections = []
    for burst in plan.bursts:
        for v in variants:
            v.samples = []
        for r in range(plan.rounds):
            for v in variants:
                print(
                    f"bench: log capture, {burst.lines} x {burst.width} B, round "
                    f"{r + 1}/{plan.rounds}: {v.label}",
                    file=sys.stderr,
                )
                target: Target = CatTarget(env) if v.make is None else SystemTarget(v.make(env))
                with target:
                    v.samples.append(_sample(target, burst, v.timestamps))
        sections.append(_section(variants, burst))
    return sections, warnings


def _sample(target: Target, plan: Burst, timestamps: bool) -> Sample:
    line_bytes = plan.width + (STAMP_BYTES if timestamps else 0)
    file_bytes = plan.lines * line_bytes
    max_size = math.ceil(file_bytes / FILES_PER_BURST)
    gate = os.path.join(target.home, "gate.fifo")
    os.mkfifo(gate, 0o600)
    app = AppDef(
        APP,
        (sys.executable, "-S", "-I", WRITER, str(plan.lines), str(plan.width), gate),
        run_once=True,
        log=LogSpec(max_size, BACKUPS, timestamps),
    )
    target.launch(app)
    paths = target.files(BACKUPS)
    fd = _open_gate(gate)
    try:
        pids = target.cpu_pids()
        before = [procs.cpu(pid) for pid in pids]
        t0 = time.perf_counter()
        os.write(fd, b"g")
    finally:
        os.close(fd)
    done, bracket, on_disk = _wait_written(paths, file_bytes, t0)
    after = [procs.cpu(pid) for pid in pids]
    ticks = sum(a.ticks - b.ticks for a, b in zip(after, before, strict=True))
    runtime = sum(a.runtime_ns - b.runtime_ns for a, b in zip(after, before, strict=True))
    seconds = None if done is None else done - t0
    return Sample(seconds, bracket, ticks, runtime, on_disk, verify(paths, plan, timestamps))


def _open_gate(gate: str) -> int:
    """Open the FIFO for writing once the writer waits at it (it has built its lines)."""
    deadline = time.monotonic() + GATE_TIMEOUT
    while True:
        try:
            return os.open(gate, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"the writer never opened {gate} (did the app start?)")
        time.sleep(0.005)


def _snapshot(paths: Sequence[str]) -> tuple[int, tuple[tuple[int, int] | None, ...]]:
    sizes: list[tuple[int, int] | None] = []
    total = 0
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            sizes.append(None)
            continue
        sizes.append((st.st_ino, st.st_size))
        total += st.st_size
    return total, tuple(sizes)


def _wait_written(
    paths: Sequence[str], expected: int, t0: float
) -> tuple[float | None, float, int]:
    """(when all bytes were on disk, bracket, bytes seen); None if they never were."""
    clock = time.perf_counter
    previous: tuple[tuple[int, int] | None, ...] | None = None
    last_end = t0
    prev_end = t0
    changed = t0
    total = 0
    while True:
        total, sizes = _snapshot(paths)
        end = clock()
        if sizes != previous:
            changed = end
        elif total >= expected:
            # Two identical snapshots: a consistent picture, complete since the first.
            return last_end, last_end - prev_end, total
        previous, prev_end, last_end = sizes, last_end, end
        if end - changed > STALL or end - t0 > LIMIT:
            return None, 0.0, total
        time.sleep(POLL)


def verify(paths: Sequence[str], plan: Burst, timestamps: bool) -> Verification:
    contents = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            contents.append(f.read())
    split = sum(1 for c in contents[:-1] if not c.endswith(b"\n"))
    data = b"".join(contents)
    contents.clear()
    unstamped = 0
    if timestamps:
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        data, stamped = STAMP.subn(b"", data)
        unstamped = lines - stamped
    expected = payload(plan.lines, plan.width)
    if data == expected:
        return Verification(len(paths_present(paths)), 0, 0, 0, 0, split, unstamped)
    del expected
    counts = array("I", bytes(4 * plan.lines))
    mangled = disorder = 0
    previous = -1
    number = plan.width - 1
    for line in data.split(b"\n"):
        if not line:
            continue
        head = line[:7]
        if len(line) != number or line[7:8] != b" " or not head.isdigit():
            mangled += 1
            continue
        i = int(head)
        if i >= plan.lines:
            mangled += 1
            continue
        counts[i] += 1
        if i <= previous:
            disorder += 1
        previous = i
    lost = sum(1 for c in counts if c == 0)
    duplicated = sum(c - 1 for c in counts if c > 1)
    return Verification(
        len(paths_present(paths)), lost, duplicated, disorder, mangled, split, unstamped
    )


def paths_present(paths: Sequence[str]) -> list[str]:
    return [p for p in paths if os.path.exists(p)]


# -- the report -----------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True, slots=True)
class Figures:
    """One variant over its rounds: medians, and the worst verification."""

    mbps: float | None
    mbps_min: float | None
    mbps_max: float | None
    seconds: float | None
    bracket: float
    cpu_s: float
    cpu_ns_s: float
    cpu_ms_per_mb: float
    rotations: int
    lost: int
    duplicated: int
    out_of_order: int
    mangled: int
    split: int
    unstamped: int
    incomplete: int

    @classmethod
    def of(cls, samples: Sequence[Sample], plan: Burst) -> Figures:
        tick = os.sysconf("SC_CLK_TCK")
        done = [s for s in samples if s.seconds is not None]
        rates = [plan.app_bytes / MB / s.seconds for s in done if s.seconds]
        cpu_ns = _median([s.cpu_ns / 1e9 for s in samples])
        return cls(
            mbps=_median(rates) if rates else None,
            mbps_min=min(rates) if rates else None,
            mbps_max=max(rates) if rates else None,
            seconds=_median([s.seconds for s in done if s.seconds is not None]) if done else None,
            bracket=max(s.bracket for s in samples),
            cpu_s=_median([s.cpu_ticks / tick for s in samples]),
            cpu_ns_s=cpu_ns,
            cpu_ms_per_mb=cpu_ns * 1e3 / (plan.app_bytes / MB),
            rotations=min(s.check.files - 1 for s in samples),
            lost=max(s.check.lost for s in samples),
            duplicated=max(s.check.duplicated for s in samples),
            out_of_order=max(s.check.out_of_order for s in samples),
            mangled=max(s.check.mangled for s in samples),
            split=max(s.check.split for s in samples),
            unstamped=max(s.check.unstamped for s in samples),
            incomplete=len(samples) - len(done),
        )


def _mbps(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MB/s"


def _section(variants: Sequence[Variant], plan: Burst) -> Section:
    section = Section(
        f"Log capture: {plan.lines:,} lines of {plan.width} bytes "
        f"({plan.app_bytes / MB:.0f} MB) in one burst",
        [
            "system",
            "rounds",
            "time",
            "throughput",
            "min to max",
            "daemon CPU, utime+stime",
            "schedstat",
            "CPU per MB",
            "rotations",
            "lost / duplicated",
            "out of order / mangled",
            "lines split by rotation",
            "budget",
            "result",
        ],
    )
    figures = {v.label: Figures.of(v.samples, plan) for v in variants}
    peer = next((v for v in variants if v.make is not None and not v.under_test), None)
    peer_fig = figures[peer.label] if peer is not None else None
    for v in variants:
        f = figures[v.label]
        checks = _checks(v, f, peer, peer_fig, plan) if v.under_test else []
        section.checks += checks
        budget = "—"
        if v.under_test:
            budget = (
                f"≥ {LOG_TIME_MBPS:g} MB/s" if v.timestamps else "≥ supervisord, CPU/MB ≤ it"
            ) + "; none lost, none split"
        section.rows.append(
            [
                v.label,
                str(len(v.samples)) + (f" ({f.incomplete} incomplete)" if f.incomplete else ""),
                "—" if f.seconds is None else f"{f.seconds * 1e3:.0f} ms",
                _mbps(f.mbps),
                f"{_mbps(f.mbps_min)} to {_mbps(f.mbps_max)}" if len(v.samples) > 1 else "—",
                f"{f.cpu_s:.2f} s",
                f"{f.cpu_ns_s:.3f} s",
                f"{f.cpu_ms_per_mb:.2f} ms",
                str(f.rotations),
                f"{f.lost} / {f.duplicated}",
                f"{f.out_of_order} / {f.mangled}"
                + (f" ({f.unstamped} unstamped)" if f.unstamped else ""),
                str(f.split),
                budget,
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.comparisons += _comparisons(variants, plan)
    section.notes += _notes(variants, figures, peer, plan)
    return section


def _comparisons(variants: Sequence[Variant], plan: Burst) -> list[Comparison]:
    """Throughput and CPU per MB of each system as it is run by default (no timestamps)."""
    plain = [v for v in variants if v.make is not None and not v.timestamps]
    mb = plan.app_bytes / MB
    rates: dict[str, Summary] = {}
    cpu: dict[str, Summary] = {}
    for v in plain:
        done = [s.seconds for s in v.samples if s.seconds]
        if done:
            rates[v.label] = Summary.of([mb / seconds for seconds in done])
        cpu[v.label] = Summary.of([s.cpu_ns / 1e6 / mb for s in v.samples])
    what = f"{plan.lines / 1e6:g}M lines of {plan.width} B"
    return [
        Comparison(f"log capture throughput, {what}", "MB/s", False, rates),
        Comparison(f"log capture daemon CPU per MB, {what}", "ms/MB", True, cpu),
    ]


def _checks(
    v: Variant, f: Figures, peer: Variant | None, peer_fig: Figures | None, plan: Burst
) -> list[Check]:
    name = f"{v.label}, {plan.lines:,} x {plan.width} B lines"
    checks = []
    if v.timestamps:
        checks.append(
            Check(
                f"{name}: log capture throughput",
                _mbps(f.mbps),
                f"≥ {LOG_TIME_MBPS:g} MB/s (issue)",
                f.mbps is not None and f.mbps >= LOG_TIME_MBPS,
            )
        )
    elif peer is not None and peer_fig is not None and peer_fig.mbps is not None:
        ratio = f"{f.mbps / peer_fig.mbps:.2f}x" if f.mbps is not None else "—"
        checks += [
            Check(
                f"{name}: log capture throughput vs {peer.label} (same run)",
                f"{_mbps(f.mbps)} ({ratio})",
                f"≥ {_mbps(peer_fig.mbps)} ({SOURCE})",
                f.mbps is not None and f.mbps >= peer_fig.mbps,
            ),
            Check(
                f"{name}: log capture daemon CPU per MB vs {peer.label}",
                f"{f.cpu_ms_per_mb:.2f} ms ({f.cpu_ms_per_mb / peer_fig.cpu_ms_per_mb:.2f}x)"
                if peer_fig.cpu_ms_per_mb
                else f"{f.cpu_ms_per_mb:.2f} ms",
                f"≤ {peer_fig.cpu_ms_per_mb:.2f} ms (issue)",
                f.cpu_ms_per_mb <= peer_fig.cpu_ms_per_mb,
            ),
        ]
    bad = f.lost + f.duplicated + f.out_of_order + f.mangled + f.unstamped
    checks += [
        Check(
            f"{name}: lines lost, duplicated, reordered or mangled",
            str(bad) if not f.incomplete else f"{bad} ({f.incomplete} runs incomplete)",
            f"0 ({SOURCE})",
            bad == 0 and f.incomplete == 0,
        ),
        Check(
            f"{name}: lines split across two files by rotation",
            f"{f.split} ({f.rotations} rotations)",
            f"0, with ≥ {MIN_ROTATIONS} rotations ({SOURCE})",
            f.split == 0 and f.rotations >= MIN_ROTATIONS,
        ),
    ]
    return checks


def _notes(
    variants: Sequence[Variant],
    figures: Mapping[str, Figures],
    peer: Variant | None,
    plan: Burst,
) -> list[str]:
    notes = [
        f"The app prints {plan.lines:,} lines `0000000 xx…x` of {plan.width} bytes "
        f"({plan.app_bytes:,} bytes) with one `os.write` loop to its stdout and exits; it "
        "builds them before it waits at a gate (a FIFO), and the clock starts when the bench "
        "opens the gate. It stops when the sizes of the log file and its backups add up to "
        "what the app printed (stat every ~1 ms; two identical snapshots in a row). "
        "*throughput*: bytes the app printed / that time, median over the rounds (MB = 10^6 "
        "bytes). With `log_time` the files hold 25 more bytes per line.",
        "*daemon CPU*: utime+stime of the supervisor process (/proc/PID/stat, 1/"
        f"{os.sysconf('SC_CLK_TCK')} s ticks) over the same interval, median; *schedstat*: "
        "the same in ns from /proc/PID/task/*/schedstat (all its threads). *CPU per MB*: "
        "schedstat CPU / MB printed, the figure the budget compares: a burst of a few tens "
        "of milliseconds is only a few ticks. For the reference row the figures are "
        "those of `cat`.",
        f"`log_max_size` (supervisord: `stdout_logfile_maxbytes`) = the bytes on disk / "
        f"{FILES_PER_BURST:g}, so {math.ceil(FILES_PER_BURST) - 1} rotations are due; "
        f"{BACKUPS} backups keep everything. Then all files are read oldest first and compared "
        "with what the app printed (timestamps checked and stripped): *lost / duplicated* and "
        "*out of order / mangled* count lines (worst round); *lines split by rotation* counts "
        "rotated files that do not end with a newline (a line begun in one file and finished "
        "in the next). supervisord rotates after the write that crossed the limit, wherever "
        "in a line that is; it is shown, not held to procward's budget.",
    ]
    if peer is not None:
        pf = figures[peer.label]
        ratios = []
        for v in variants:
            if not v.under_test:
                continue
            f = figures[v.label]
            if f.mbps is not None and pf.mbps:
                ratio = f"{v.label} / {peer.label}: throughput {f.mbps / pf.mbps:.2f}x"
                if pf.cpu_ms_per_mb:
                    ratio += f", CPU per MB {f.cpu_ms_per_mb / pf.cpu_ms_per_mb:.2f}x"
                ratios.append(ratio)
        if ratios:
            notes.append("Ratios (medians): " + "; ".join(ratios) + ".")
    return notes
