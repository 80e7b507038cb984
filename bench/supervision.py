"""The supervision scenarios: apps running under the daemon.

Each measurement gets a fresh system (its own temporary home, removed by the
system's ``cleanup`` whatever happens, Ctrl-C included), writes its apps into
that home and starts daemon and apps with one command, as a user would:

- cold start: from invoking ``up`` (no daemon yet) until status shows every
  instance running, polled over one persistent connection;
- crash → restart: SIGKILL the one instance of a zero-backoff app and wait
  for its successor to record its start time (below);
- daemon memory with N apps, idle daemon CPU with 100 apps, ``status`` from
  the shell with N apps, ``stop all`` with 100 apps.

Crash latency needs the moment the new child starts. The app runs a tiny
*start recorder* that writes ``<pid> <unix time in ns>`` to a FIFO in the home
and then ``exec``s the real command (so the pid stays the one supervised).
The bench holds the FIFO open and blocks on it: no polling, and the record
arrives the moment it is written. The recorders below cost different
amounts of start-up; each run times every available one on its own (spawned
straight from the bench, no daemon) and uses the cheapest, and the report
says which and what it costs: that cost is included in the latency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench import procs
from bench.measure import (
    Command,
    CommandFailed,
    Summary,
    alternating,
    percentile,
    reap,
    spawn,
    wall_time,
)
from bench.measure import run as run_command
from bench.scenarios import Check, Comparison, Section, mark, mib, ms
from bench.systems import AppDef, AppSystem, AppSystemFactory, InstanceView

SOURCE = "DESIGN.md"
COLD_START_S = {500: 1.0}
CRASH_MEDIAN_MS = 4.0
RSS_MIB = {10: 22.0, 500: 30.0}
IDLE_CPU_PCT = 0.05
IDLE_APPS = 100
STATUS_MS = {10: 40.0, 500: 60.0}
STOP_ALL_S = 0.1
STOP_APPS = 100

SLEEP_ARGV = ("sleep", "100000")
UP_TIMEOUT = 60.0  # seconds for any `up` to bring its apps up
START_ENV = "PWB_STARTS"  # the FIFO a start recorder writes to
CALIBRATION_ROUNDS = 30


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each scenario a run does (quick or full)."""

    cold_counts: tuple[int, ...]
    cold_runs: int
    cold_poll: float  # seconds between status polls while timing a cold start
    crash_samples: int
    crash_warmup: int
    rss_counts: tuple[int, ...]  # measured after the cold starts of these counts
    idle_seconds: float
    idle_windows: int
    status_counts: tuple[int, ...]
    status_rounds: int
    status_warmup: int
    stop_samples: int
    upgrade_runs: int  # supervisor upgrades with apps running, per system
    churn_marks: tuple[float, ...] = (0, 30, 60, 90)  # seconds into the crash storm
    churn_soak: float = 0  # seconds procward alone stays in it (the full run: 30 min)
    scale_counts: tuple[int, ...] = ()  # apps of the scale scenario (the full run: 2,000, 5,000)
    reloads: int = 5  # reloads of the HTTP app under load, per way (bench.reload_load)


def sleep_apps(n: int) -> list[AppDef]:
    return [AppDef(f"a{i}", SLEEP_ARGV) for i in range(n)]


def _all_running(view: Sequence[InstanceView] | None, n: int) -> bool:
    return (
        view is not None
        and len(view) == n
        and all(v.state == "running" and v.pid is not None for v in view)
    )


def _up(system: AppSystem, apps: Sequence[AppDef], poll: float = 0.02) -> list[InstanceView]:
    """Start the daemon with ``apps`` (untimed) and wait until all of them run."""
    run_command(system.up_command(system.write_config(apps)), timeout=UP_TIMEOUT)
    system.attach()
    return _wait_running(system, len(apps), poll)


def _wait_running(system: AppSystem, n: int, poll: float) -> list[InstanceView]:
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        view = system.instances()
        if view is not None and _all_running(view, n):
            return view
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.name}: not all of {n} instances running: {view}")
        time.sleep(poll)


def _fresh(make: AppSystemFactory, env: Mapping[str, str]) -> AppSystem:
    return make(env)


# -- cold start ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColdStart:
    running: float  # s from invoking `up` to the reply of the first poll showing all running
    not_yet: float  # s to the sending of the last poll that did not: the true moment is between
    up_returned: float  # s until the `up` command exited
    polls: int
    last_spawn: float | None  # s to the latest spawn time status reports (daemon's clock)


def cold_start(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> list[Section]:
    """Cold starts to N apps, alternating systems; after each, the daemon's memory."""
    memory: dict[tuple[str, int], list[dict[str, int]]] = {}
    section = Section(
        "Cold start to N apps running",
        [
            "system",
            "apps",
            "runs",
            "min",
            "median",
            "max",
            "bracket",
            "last spawn",
            "`up` returned",
            "polls",
            "budget",
            "result",
        ],
    )
    probe_before = fs_probe()
    for n in plan.cold_counts:
        # Runs alternate between the systems, so drift in the machine hits all alike.
        runs_of: dict[str, list[ColdStart]] = {name: [] for name in systems}
        tested: dict[str, bool] = {}
        for _ in range(plan.cold_runs):
            for name, make in systems.items():
                with _fresh(make, env) as system:
                    runs_of[name].append(_cold_start_once(system, n, plan.cold_poll))
                    tested[name] = system.under_test
                    if n in plan.rss_counts:
                        memory.setdefault((name, n), []).append(_settled_memory(system))
        section.comparisons.append(
            Comparison(
                f"cold start to {n} apps running",
                "s",
                True,
                {name: Summary.of([r.running for r in runs]) for name, runs in runs_of.items()},
            )
        )
        for name, runs in runs_of.items():
            summary = Summary.of([r.running for r in runs])
            limit = COLD_START_S.get(n) if tested[name] else None
            checks = []
            if limit is not None:
                checks.append(
                    Check(
                        f"{name}: cold start to {n} apps running, median",
                        f"{summary.median:.3f} s",
                        f"≤ {limit:g} s ({SOURCE})",
                        summary.median <= limit,
                    )
                )
            section.checks += checks
            section.rows.append(
                [
                    name,
                    str(n),
                    str(len(runs)),
                    f"{summary.min:.3f} s",
                    f"{summary.median:.3f} s",
                    f"{summary.max:.3f} s",
                    ms(statistics.median(r.running - r.not_yet for r in runs)),
                    _median_s([r.last_spawn for r in runs]),
                    f"{statistics.median(r.up_returned for r in runs):.3f} s",
                    str(round(statistics.median(r.polls for r in runs))),
                    f"≤ {limit:g} s" if limit is not None else "—",
                    mark(all(c.ok for c in checks)) if checks else "—",
                ]
            )
    probe_after = fs_probe()
    section.notes += [
        "Each run in a fresh home, no daemon yet: the clock starts as the bench spawns "
        "`procward up -c procward.toml` (N apps `sleep 100000`, procward's defaults: "
        "*running* means spawned, decision 0050) and stops when the reply arrives to "
        "the first `status` call that shows N instances *running* with a pid. "
        "The bench polls `status` over "
        f"one persistent connection, {plan.cold_poll * 1e3:g} ms between polls (the "
        "connection is retried until the socket answers).",
        "*bracket*: from sending the last poll that still saw an instance not running to "
        "the reply that saw all running (median): the true moment lies in between, so the "
        "figures are at most this much late. *last spawn*: the latest spawn time status "
        "reports (the daemon's wall clock, median), which is when "
        "the last instance became running: the precise figure. *`up` returned*: when the "
        "`up` command exited (it also waits for the apps to be spawned, then prints the "
        "table). *polls*: median "
        "number of `status` calls per run; each one also costs the daemon time. A bracket "
        "close to the whole time means the daemon answered no call while starting the apps.",
        "File-system context (procward creates a log directory and two log files per "
        "instance): in a fresh /tmp/pwb-* directory, median of 200, `mkdir` took "
        f"{probe_before[0]:.0f} µs and creating a file {probe_before[1]:.0f} µs before the "
        f"cold starts, {probe_after[0]:.0f} µs and {probe_after[1]:.0f} µs after them.",
    ]
    return [section, daemon_memory(memory, tested, plan)]


def fs_probe(count: int = 200) -> tuple[float, float]:
    """Median µs per ``mkdir`` and per file creation in a fresh /tmp/pwb-* directory.

    Context for the cold start: a supervisor creates log files for every
    instance it starts, and on a virtual disk these metadata operations can
    cost more than the spawn itself.
    """
    home = tempfile.mkdtemp(prefix="pwb-", dir="/tmp")
    made, created = [], []
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        for i in range(count):
            path = os.path.join(home, f"d{i}")
            t0 = time.perf_counter_ns()
            os.mkdir(path, 0o700)
            t1 = time.perf_counter_ns()
            os.close(os.open(os.path.join(path, "0.out"), flags, 0o640))
            t2 = time.perf_counter_ns()
            made.append(t1 - t0)
            created.append(t2 - t1)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return statistics.median(made) / 1e3, statistics.median(created) / 1e3


def _cold_start_once(
    system: AppSystem, n: int, poll: float, timeout: float = UP_TIMEOUT
) -> ColdStart:
    cmd = system.up_command(system.write_config(sleep_apps(n)))
    errors = os.path.join(system.home, "up.stderr")
    clock = time.perf_counter
    wall0, t0 = time.time(), clock()
    pid = spawn(cmd, errors)
    up_code: int | None = None
    up_returned = 0.0
    try:
        pidfd = os.pidfd_open(pid)
        try:
            polls, not_yet = 0, 0.0
            while True:
                sent = clock()
                view = system.instances()
                replied = clock()
                polls += 1
                if view is not None and _all_running(view, n):
                    spawns = [v.started_at for v in view if v.started_at is not None]
                    last_spawn = max(spawns) - wall0 if len(spawns) == n else None
                    break
                not_yet = sent - t0
                if replied - t0 > timeout:
                    raise RuntimeError(f"{system.name}: {n} apps not running after {timeout:g} s")
                if up_code is None:
                    # Sleep on the `up` process: its exit wakes us at once, to time it.
                    if select.select([pidfd], [], [], poll)[0]:
                        up_returned = clock() - t0
                        up_code = _reaped(pid)
                        _check_up(up_code, cmd, errors)
                else:
                    time.sleep(poll)
            running = replied - t0
            if up_code is None:
                select.select([pidfd], [], [], timeout)
                up_returned = clock() - t0
                up_code = _reaped(pid)
                _check_up(up_code, cmd, errors)
        finally:
            os.close(pidfd)
    finally:
        if up_code is None:  # interrupted or failed: end our `up`, never leave a zombie
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reap(pid, 5.0)
    system.attach()
    return ColdStart(running, not_yet, up_returned, polls, last_spawn)


def _median_s(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.3f} s" if known else "—"


def _reaped(pid: int) -> int:
    code = reap(pid, 0.0)
    if code is None:
        raise RuntimeError(f"pid {pid} woke us but has not exited")
    return code


def _check_up(code: int, cmd: Command, errors: str) -> None:
    if code != 0:
        with open(errors, errors="replace") as f:
            text = f.read().strip()
        raise CommandFailed(f"{cmd.shell} exited with {code}: {text}")


# -- crash -> restart ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorder:
    """A program that records ``<pid> <unix ns>`` to $PWB_STARTS, then execs its arguments."""

    name: str
    argv: tuple[str, ...]  # the command to run follows these


def recorders() -> list[Recorder]:
    found = []
    candidates = [
        Recorder(
            "bash, `$EPOCHREALTIME` (builtin, no fork)",
            ("bash", "-c", f'echo "$$ ${{EPOCHREALTIME/[.,]/}}000" > "${START_ENV}"; exec "$@"'),
        ),
        Recorder(
            "sh (dash) + `date +%s%N` (one fork)",
            ("sh", "-c", f'echo "$$ $(date +%s%N)" > "${START_ENV}"; exec "$@"'),
        ),
        Recorder(
            "python -S -I",
            (
                sys.executable,
                "-S",
                "-I",
                "-c",
                "import os,sys,time;"
                f"fd=os.open(os.environ['{START_ENV}'],os.O_WRONLY);"
                "os.write(fd,b'%d %d\\n'%(os.getpid(),time.time_ns()));"
                "os.execvp(sys.argv[1],sys.argv[1:])",
            ),
        ),
    ]
    for rec in candidates:
        exe = shutil.which(rec.argv[0])
        if exe is not None:
            argv = (exe, *rec.argv[1:])
            # `sh -c SCRIPT NAME ARGS`: $0 is NAME, "$@" the command to exec.
            found.append(Recorder(rec.name, (*argv, "recorder") if argv[1] == "-c" else argv))
    return found


class StartLog:
    """The read side of the recorders' FIFO; ``next()`` blocks until a record arrives."""

    def __init__(self, path: str) -> None:
        os.mkfifo(path, 0o600)
        self.path = path
        # O_RDWR: writers never block on open, and there is no EOF between them.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._buf = b""

    def next(self, timeout: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise RuntimeError(f"no start recorded in {self.path} within {timeout:g} s")
            with contextlib.suppress(BlockingIOError):
                self._buf += os.read(self.fd, 4096)
        line, self._buf = self._buf.split(b"\n", 1)
        pid, ns = line.split()
        return int(pid), int(ns)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> StartLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def calibrate(env: Mapping[str, str], rounds: int) -> dict[Recorder, list[int]]:
    """Each recorder's own cost (ns): bench spawns it → it has written its start time.

    In alternating rounds (one run of each recorder per round), so drift in the
    machine's speed hits all of them alike; two warm-up rounds first.
    """
    home = tempfile.mkdtemp(prefix="pwb-", dir="/tmp")
    candidates = recorders()
    if not candidates:
        raise RuntimeError("no start recorder available (bash, sh or python)")
    costs: dict[Recorder, list[int]] = {rec: [] for rec in candidates}
    try:
        fifo = os.path.join(home, "starts.fifo")
        child_env = {**env, START_ENV: fifo}
        with StartLog(fifo) as starts:
            for i in range(rounds + 2):
                for rec in candidates:
                    argv = [*rec.argv, "true"]
                    t0 = time.time_ns()
                    pid = os.posix_spawn(argv[0], argv, child_env)
                    try:
                        recorded_pid, started = starts.next(5.0)
                    finally:
                        os.waitpid(pid, 0)
                    if recorded_pid != pid:
                        raise RuntimeError(f"{rec.name} recorded pid {recorded_pid}, not {pid}")
                    if i >= 2:
                        costs[rec].append(started - t0)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return costs


def crash_restart(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    costs = calibrate(env, rounds=CALIBRATION_ROUNDS)
    medians = {rec: statistics.median(c) for rec, c in costs.items()}
    recorder = min(medians, key=lambda r: medians[r])
    section = Section(
        "Crash → restart latency, zero backoff",
        [
            "system",
            "samples",
            "min",
            "median",
            "p90",
            "max",
            "kill → bench saw it",
            "median less recorder",
            "budget",
            "result",
        ],
    )
    values: dict[str, Summary] = {}
    for name, make in systems.items():
        with _fresh(make, env) as system:
            latencies, seen = _crash_samples(system, recorder, plan)
            under_test = system.under_test
        med = statistics.median(latencies)
        values[name] = Summary.of([lat / 1e6 for lat in latencies])
        checks = []
        if under_test:
            checks.append(
                Check(
                    f"{name}: kill -9 → new child started, median",
                    f"{med / 1e6:.2f} ms",
                    f"≤ {CRASH_MEDIAN_MS:g} ms ({SOURCE})",
                    med <= CRASH_MEDIAN_MS * 1e6,
                )
            )
        section.checks += checks
        section.rows.append(
            [
                name,
                str(len(latencies)),
                _ms_ns(min(latencies)),
                _ms_ns(med),
                _ms_ns(percentile(latencies, 90)),
                _ms_ns(max(latencies)),
                _ms_ns(statistics.median(seen)),
                _ms_ns(med - medians[recorder]),
                f"median ≤ {CRASH_MEDIAN_MS:g} ms" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.comparisons.append(Comparison("kill -9 → new child started", "ms", True, values))
    cost_text = "; ".join(f"{rec.name}: {_ms_ns(medians[rec])}" for rec in costs)
    section.notes += [
        'One app, one instance, `restart = "always"`, zero backoff, a restart budget the '
        f"run cannot spend. {plan.crash_warmup} warm-up kill(s), then {plan.crash_samples} "
        "samples: the bench reads the instance's pid from `status` (running), waits 50 ms, "
        "takes `time.time_ns()`, sends SIGKILL (pidfd), and blocks until the new child's "
        "start record arrives; latency = recorded start minus kill time (both CLOCK_REALTIME). "
        "Every new pid is checked against `status` before the next kill.",
        f"Start recorder used: **{recorder.name}**, the cheapest here. Its own cost (bench "
        f"spawns it → it has recorded its start; median of {CALIBRATION_ROUNDS} alternating "
        f"rounds, no daemon involved) is part of every latency: {cost_text}.",
        "*kill → bench saw it*: until the bench read the record (median), an upper bound "
        "including the FIFO wake-up. *median less recorder*: the median less the recorder's "
        "median cost, an estimate of the supervisor's own share (informational).",
    ]
    return section


def _crash_samples(
    system: AppSystem, recorder: Recorder, plan: Plan
) -> tuple[list[int], list[int]]:
    fifo = os.path.join(system.home, "starts.fifo")
    latencies: list[int] = []
    seen: list[int] = []
    with StartLog(fifo) as starts:
        app = AppDef(
            "crashy",
            (*recorder.argv, *SLEEP_ARGV),
            env={START_ENV: fifo},
            restart_at_once=True,
        )
        run_command(system.up_command(system.write_config([app])), timeout=UP_TIMEOUT)
        system.attach()
        pid, _ = starts.next(10.0)
        total = plan.crash_warmup + plan.crash_samples
        for i in range(total):
            _wait_pid_running(system, pid, restarts=i)
            time.sleep(0.05)
            killed = _kill_app(pid, fifo)
            new_pid, started = starts.next(10.0)
            saw = time.time_ns()
            if i >= plan.crash_warmup:
                latencies.append(started - killed)
                seen.append(saw - killed)
            pid = new_pid
        _wait_pid_running(system, pid, restarts=total)
    return latencies, seen


def _wait_pid_running(system: AppSystem, pid: int, restarts: int) -> None:
    deadline = time.monotonic() + 10.0
    while True:
        view = system.instances() or []
        if len(view) == 1 and view[0].pid == pid and view[0].state == "running":
            if view[0].restarts != restarts:
                raise RuntimeError(
                    f"{system.name}: status counts {view[0].restarts} restarts, expected {restarts}"
                )
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.name}: pid {pid} never shown running; status: {view}")
        time.sleep(0.002)


def _kill_app(pid: int, fifo: str) -> int:
    """SIGKILL ``pid`` if it is our app (its environment names our FIFO); the kill time (ns)."""
    fd = os.pidfd_open(pid)
    try:
        if not procs.has_environment(pid, START_ENV, fifo):
            raise RuntimeError(f"pid {pid} is not this run's app; not killing it")
        killed = time.time_ns()
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return killed
    finally:
        os.close(fd)


def _ms_ns(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:.2f} ms"


# -- daemon memory ------------------------------------------------------------------------


def _settled_memory(system: AppSystem) -> dict[str, int]:
    """The daemon's memory once the bench has let go of it: connection closed, 0.5 s."""
    system.disconnect()
    time.sleep(0.5)
    return procs.memory_kib(system.daemon_pid())


def daemon_memory(
    samples: Mapping[tuple[str, int], Sequence[Mapping[str, int]]],
    tested: Mapping[str, bool],
    plan: Plan,
) -> Section:
    section = Section(
        "Daemon memory with N apps running",
        [
            *("system", "apps", "runs", "VmRSS min", "VmRSS median", "VmRSS max"),
            *("VmHWM median", "budget", "result"),
        ],
    )
    for n in plan.rss_counts:
        values: dict[str, Summary] = {}
        for name in tested:
            mems = samples.get((name, n))
            if not mems:
                continue
            rss = Summary.of([m["VmRSS"] / 1024 for m in mems])
            values[name] = rss
            limit = RSS_MIB.get(n) if tested[name] else None
            checks = []
            if limit is not None:
                checks.append(
                    Check(
                        f"{name}: daemon VmRSS, {n} apps, median",
                        f"{rss.median:.1f} MiB",
                        f"≤ {limit:g} MiB ({SOURCE})",
                        rss.median <= limit,
                    )
                )
            section.checks += checks
            section.rows.append(
                [
                    name,
                    str(n),
                    str(rss.n),
                    f"{rss.min:.1f} MiB",
                    f"{rss.median:.1f} MiB",
                    f"{rss.max:.1f} MiB",
                    mib(statistics.median(m["VmHWM"] for m in mems)),
                    f"≤ {limit:g} MiB" if limit is not None else "—",
                    mark(all(c.ok for c in checks)) if checks else "—",
                ]
            )
        section.comparisons.append(Comparison(f"daemon RSS, {n} apps", "MiB", True, values))
    section.notes.append(
        "Measured at the end of each cold-start run above (a fresh daemon each time): "
        "`up -c` with N apps `sleep 100000`, all running, the bench's connection closed, "
        "0.5 s, then /proc/PID/status of the daemon (pid from its pidfile). HTTP off (the "
        "default). VmHWM: peak so far."
    )
    return section


# -- idle CPU -----------------------------------------------------------------------------


def idle_cpu(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    """Every system idle at once with 100 apps; CPU over ``idle_windows`` windows.

    Idle daemons barely run, so measuring them side by side over the same windows
    costs one window per repetition instead of one per system and repetition.
    """
    tick = os.sysconf("SC_CLK_TCK")
    section = Section(
        f"Idle daemon CPU, {IDLE_APPS} apps running",
        [
            *("system", "windows", "seconds each", "utime+stime", "% of a core"),
            *("schedstat % min", "schedstat % median", "schedstat % max", "wake-ups/s"),
            *("budget", "result"),
        ],
    )
    pct: dict[str, list[float]] = {name: [] for name in systems}
    pct_ns: dict[str, list[float]] = {name: [] for name in systems}
    wakeups: dict[str, list[float]] = {name: [] for name in systems}
    ticks: dict[str, int] = dict.fromkeys(systems, 0)
    tested: dict[str, bool] = {}
    with contextlib.ExitStack() as stack:
        pids = {}
        for name, make in systems.items():
            system = stack.enter_context(_fresh(make, env))
            _up(system, sleep_apps(IDLE_APPS))
            system.disconnect()
            pids[name] = system.daemon_pid()
            tested[name] = system.under_test
        time.sleep(1.0)  # let coalesced state writes and the last connections settle
        for _ in range(plan.idle_windows):
            before, t0 = {name: procs.cpu(pid) for name, pid in pids.items()}, time.monotonic()
            time.sleep(plan.idle_seconds)
            after, elapsed = (
                {name: procs.cpu(pid) for name, pid in pids.items()},
                (time.monotonic() - t0),
            )
            for name in pids:
                used = after[name].ticks - before[name].ticks
                ticks[name] += used
                pct[name].append(used / tick / elapsed * 100)
                runtime = after[name].runtime_ns - before[name].runtime_ns
                pct_ns[name].append(runtime / 1e9 / elapsed * 100)
                switches = after[name].switches - before[name].switches
                wakeups[name].append(switches / elapsed)
    values: dict[str, Summary] = {}
    for name in systems:
        by_ticks = statistics.median(pct[name])
        precise = Summary.of(pct_ns[name])
        values[name] = precise
        checks = []
        if tested[name]:
            checks += [
                Check(
                    f"{name}: idle daemon CPU, {IDLE_APPS} apps (utime+stime, ticks, median)",
                    f"{by_ticks:.3f} %",
                    f"≤ {IDLE_CPU_PCT:g} % ({SOURCE}, metrics off)",
                    by_ticks <= IDLE_CPU_PCT,
                ),
                Check(
                    f"{name}: idle daemon CPU, {IDLE_APPS} apps (schedstat, ns, median)",
                    f"{precise.median:.4f} %",
                    f"≤ {IDLE_CPU_PCT:g} % ({SOURCE}, metrics off)",
                    precise.median <= IDLE_CPU_PCT,
                ),
            ]
        section.checks += checks
        section.rows.append(
            [
                name,
                str(plan.idle_windows),
                f"{plan.idle_seconds:g}",
                f"{ticks[name]} ticks in all",
                f"{by_ticks:.3f} %",
                f"{precise.min:.4f} %",
                f"{precise.median:.4f} %",
                f"{precise.max:.4f} %",
                f"{statistics.median(wakeups[name]):.2f}",
                f"≤ {IDLE_CPU_PCT:g} %" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.comparisons.append(Comparison(f"idle daemon CPU, {IDLE_APPS} apps", "%", True, values))
    resolution = 100 / tick / plan.idle_seconds
    section.notes += [
        f"Every system up at once, each in its own home with {IDLE_APPS} apps "
        "`sleep 100000` running, the bench's connections closed, 1 s to settle; then "
        f"{plan.idle_windows} consecutive windows of {plan.idle_seconds:g} s, the same for "
        "all. *% of a core*: utime+stime of /proc/PID/stat over a window (median). One tick "
        f"(1/{tick} s) is {resolution:.3f} % of a window, so this figure (the issue's "
        "method) is coarse; a short (quick) window cannot resolve the budget at all.",
        "*schedstat %*: the same quantity from /proc/PID/task/*/schedstat (ns on a CPU, "
        "summed over the live threads), the precise figure and the one compared in the "
        "summary; it is checked against the budget too. *wake-ups/s*: voluntary + "
        "involuntary context switches of all the daemon's threads per second (median).",
    ]
    return section


# -- status from the shell ----------------------------------------------------------------


def status_wall_time(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    section = Section(
        "`status` from the shell with N apps",
        ["command", "apps", "min", "median", "max", "budget", "result"],
    )
    for n in plan.status_counts:
        # Every system up at once (each in its own home), the commands in alternating
        # rounds, so drift in the machine hits all alike.
        with contextlib.ExitStack() as stack:
            cmds, tested = [], []
            for make in systems.values():
                system = stack.enter_context(_fresh(make, env))
                _up(system, sleep_apps(n))
                system.disconnect()
                cmd = system.status_command()
                cmds.append(dataclasses.replace(cmd, label=f"{cmd.label} ({n} apps)"))
                tested.append(system.under_test)
            samples = alternating(cmds, plan.status_rounds, plan.status_warmup)
        values: dict[str, Summary] = {}
        for name, cmd in zip(systems, cmds, strict=True):
            s_ = Summary.of(samples[cmd.label])
            values[name] = Summary(s_.n, s_.min * 1e3, s_.median * 1e3, s_.max * 1e3)
        section.comparisons.append(
            Comparison(f"`status` from the shell, {n} apps", "ms", True, values)
        )
        for cmd, under_test in zip(cmds, tested, strict=True):
            summary = Summary.of(samples[cmd.label])
            limit = STATUS_MS.get(n) if under_test else None
            checks = []
            if limit is not None:
                checks.append(
                    Check(
                        f"`{cmd.label}` median",
                        ms(summary.median),
                        f"≤ {limit:g} ms ({SOURCE})",
                        summary.median * 1e3 <= limit,
                    )
                )
            section.checks += checks
            section.rows.append(
                [
                    f"`{cmd.label.removesuffix(f' ({n} apps)')}`",
                    str(n),
                    ms(summary.min),
                    ms(summary.median),
                    ms(summary.max),
                    f"≤ {limit:g} ms" if limit is not None else "—",
                    mark(all(c.ok for c in checks)) if checks else "—",
                ]
            )
    section.notes.append(
        f"Fresh daemons for each N, every system's up at once (each in its own home) with "
        f"N apps `sleep 100000` running; {plan.status_rounds} alternating rounds (one run "
        f"of each system's command per round) after {plan.status_warmup} warm-up rounds, "
        "each run timed like the CLI table "
        "above (posix_spawn → waitpid, output to /dev/null, bytecode compiled, "
        "`PYTHONDONTWRITEBYTECODE` unset). The table output is rendered in full."
    )
    return section


# -- stop all -----------------------------------------------------------------------------


def stop_all(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    section = Section(
        f"`stop all` with {STOP_APPS} apps",
        ["command", "samples", "min", "median", "max", "left running", "budget", "result"],
    )
    values: dict[str, Summary] = {}
    for name, make in systems.items():
        with _fresh(make, env) as system:
            times, left = _stop_all_samples(system, plan)
            cmd = system.stop_all_command()
            under_test = system.under_test
        summary = Summary.of(times)
        values[name] = summary
        checks = []
        if under_test:
            checks += [
                Check(
                    f"`{cmd.label}`, {STOP_APPS} apps, median",
                    f"{summary.median:.3f} s",
                    f"≤ {STOP_ALL_S:g} s ({SOURCE})",
                    summary.median <= STOP_ALL_S,
                ),
                Check(
                    f"`{cmd.label}`: no app process left when it returns",
                    str(left),
                    "0",
                    left == 0,
                ),
            ]
        section.checks += checks
        section.rows.append(
            [
                f"`{cmd.label}`",
                str(len(times)),
                f"{summary.min:.3f} s",
                f"{summary.median:.3f} s",
                f"{summary.max:.3f} s",
                str(left),
                f"≤ {STOP_ALL_S:g} s, none left" if checks else "—",
                mark(all(c.ok for c in checks)) if checks else "—",
            ]
        )
    section.comparisons.append(Comparison(f"stop all, {STOP_APPS} apps", "s", True, values))
    section.notes.append(
        f"{STOP_APPS} apps `sleep 100000` (stop signal TERM), all running; wall time of "
        "`stop all` from the shell until it returns. Right after, every app pid status "
        "showed before (identified by pid and start time) is checked: *left running* "
        "counts those still alive (zombies count as gone), summed over the samples. "
        "Between samples the apps are started again over RPC (`startAll`) and the bench "
        "waits until all run."
    )
    return section


def _stop_all_samples(system: AppSystem, plan: Plan) -> tuple[list[float], int]:
    view = _up(system, sleep_apps(STOP_APPS))
    times: list[float] = []
    left = 0
    for i in range(plan.stop_samples):
        if i:
            system.start_all()
            view = _wait_running(system, STOP_APPS, 0.02)
        apps = [p for v in view if v.pid is not None and (p := procs.proc(v.pid)) is not None]
        system.disconnect()
        time.sleep(0.2)
        times.append(wall_time(system.stop_all_command()))
        left += sum(p.is_alive() for p in apps)
        after = system.instances() or []
        if any(v.pid is not None for v in after):
            raise RuntimeError(f"{system.name}: instances still have pids after stop all")
    return times, left


ScenarioFn = Callable[
    [Mapping[str, AppSystemFactory], Mapping[str, str], Plan], "Section | list[Section]"
]
SCENARIOS: list[ScenarioFn] = [
    cold_start,  # and the daemon's memory after each start
    crash_restart,
    idle_cpu,
    status_wall_time,
    stop_all,
]
