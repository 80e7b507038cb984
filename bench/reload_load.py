"""Zero-downtime reload under load: requests failed while each system reloads an app.

Issue 18, item 4. For each way of ``bench.reload_ways`` (procward surge and
rolling, supervisord restart, gunicorn's HUP under supervisord, Circus,
PM2), in a fresh system on a free port: the 2-instance app is started and
the bench waits until it answers; then ``CLIENTS`` clients load it
(``bench.httpload``) while the system reloads it ``reloads`` times. Each
reload runs the system's command, then waits until none of the processes
serving before is left and ``WORKERS`` serve again: that is its time. A gap
of load follows each reload, so what a reload breaks shows up in its count.

The measurement is the clients' tally: requests, failed (refused, reset,
timed out, not 200), and the latency of those that succeeded. A way that
cannot be made (a peer not installed) or fails is left out with a warning.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench import httpload
from bench.httpload import Load, Outcome, Tally
from bench.measure import CommandFailed, Summary
from bench.peers import PeerUnavailable
from bench.reload_ways import COMMAND_TIMEOUT, WORKERS, ReloadWay, WayFactory
from bench.scenarios import Comparison, Section
from procward.kit.testing import free_port

CLIENTS = 8
SETTLE = 0.5  # s of load before the first reload
GAP = 1.0  # s of load after each reload
POLL = 0.02  # s between looks at the workers while a reload ends
ANSWER_TIMEOUT = 30.0  # s the app may take to answer once started


@dataclass(frozen=True, slots=True)
class WayResult:
    label: str  # "procward, surge"
    system: str  # "procward"
    how: str  # the reload command (Markdown)
    tally: Tally
    reload_seconds: tuple[float, ...]  # each reload, command to new generation


def reload_under_load(
    ways: Sequence[tuple[str, WayFactory]], env: Mapping[str, str], reloads: int
) -> tuple[Section, list[str]]:
    """Every way in turn, in a fresh system; the section and what went wrong."""
    results: list[WayResult] = []
    warnings: list[str] = []
    for _, make in ways:
        try:
            way = make(env)
        except PeerUnavailable as exc:
            warnings.append(f"reload under load: a way not measured: {exc}")
            continue
        with way:
            try:
                results.append(measure(way, reloads))
            except (CommandFailed, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                # OSError too: a peer's socket timing out is its row, not the run's end.
                warnings.append(f"reload under load, {way.label}: not measured: {exc}")
        warnings += [f"{way.label}: {w}" for w in way.warnings]
    return section(results, reloads), warnings


def measure(way: ReloadWay, reloads: int) -> WayResult:
    port = free_port()
    way.serve(port)
    wait_answering(port)
    seconds = []
    with Load(port, CLIENTS) as load:
        time.sleep(SETTLE)  # the load before the first reload, for the tally
        for _ in range(reloads):
            seconds.append(reload_once(way))
            time.sleep(GAP)  # the load after each reload, for the tally
        samples = load.stop()
    return WayResult(way.label, way.system, way.how, httpload.tally(samples), tuple(seconds))


def wait_answering(port: int) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while (outcome := httpload.get(port)) is not Outcome.OK:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app on port {port} does not answer: {outcome}")
        time.sleep(POLL)


def reload_once(way: ReloadWay) -> float:
    """Reload; the seconds until no process of before serves and ``WORKERS`` do."""
    before = way.workers()
    t0 = time.perf_counter()
    way.reload()
    while True:
        now = way.workers()
        elapsed = time.perf_counter() - t0
        if len(now) >= WORKERS and not now & before:
            return elapsed
        if elapsed > COMMAND_TIMEOUT:
            raise RuntimeError(f"{way.label}: the old workers still run after the reload")
        time.sleep(POLL)


# -- the report (pure) --------------------------------------------------------------------


def best_of_each(results: Sequence[WayResult]) -> dict[str, WayResult]:
    """Each system's best way: fewest failed requests, then the lower p99."""
    best: dict[str, WayResult] = {}
    for result in results:
        kept = best.get(result.system)
        if kept is None or _rank(result) < _rank(kept):
            best[result.system] = result
    return best


def _rank(result: WayResult) -> tuple[int, float]:
    p99 = result.tally.p99
    return result.tally.failed, float("inf") if p99 is None else p99


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.1f} ms"


def row(result: WayResult) -> list[str]:
    t = result.tally
    times = result.reload_seconds
    return [
        result.label,
        result.how,
        str(len(times)),
        str(t.total),
        t.failures_label(),
        f"{t.failed_percent:.2f} %",
        _ms(t.p99),
        _ms(t.max),
        f"{statistics.median(times):.2f} s" if times else "—",
        f"{max(times):.2f} s" if times else "—",
    ]


def section(results: Sequence[WayResult], reloads: int) -> Section:
    out = Section(
        f"Reload under load: {reloads} reloads of a {WORKERS}-instance HTTP app, {CLIENTS} clients",
        [
            *("system, way", "reload command", "reloads", "requests", "failed", "failed %"),
            *("p99 latency", "max latency", "time per reload median", "time per reload max"),
        ],
    )
    out.rows += [row(result) for result in results]
    best = best_of_each(results)
    out.comparisons += [
        Comparison(
            f"reload under load: failed requests, {reloads} reloads",
            "requests",
            True,
            {name: Summary.of([float(r.tally.failed)]) for name, r in best.items()},
        ),
    ]
    out.notes += NOTES
    return out


NOTES = [
    f"The app answers `GET /` with `200 ok` and closes the connection; on SIGTERM/SIGINT it "
    "stops accepting, answers the connection in hand and exits 0. Python (stdlib, "
    "`bench/reload_app.py`, one request at a time per process) for procward, Circus and "
    "supervisord; the same in node (`bench/reload_app.js`, `server.close()` on SIGINT) for "
    "PM2, whose cluster mode runs node only; gunicorn serves the same answer from a WSGI "
    f"function of that file. {WORKERS} instances (processes, workers) each time.",
    f"Load: {CLIENTS} client threads in the bench, each a loop of `GET /` on 127.0.0.1, a new "
    f"connection per request, {httpload.TIMEOUT:g} s timeout, {httpload.PAUSE * 1e3:g} ms "
    f"pause between requests. It starts once the app answers, runs {SETTLE:g} s, then each "
    f"reload is followed by {GAP:g} s of it. *failed*: refused, reset (or closed before a "
    "whole answer), timed out, or an answer other than `200 ok`, by kind. Latencies are those "
    "of the requests that succeeded.",
    "*time per reload*: from running the reload command until the bench saw, in /proc, none "
    f"of the processes serving before it and {WORKERS} serving (children of the daemon; for "
    "gunicorn, of its master), polled every 20 ms.",
    'How each system reloads. **procward**: `sockets = { http = "127.0.0.1:PORT" }` (the '
    "daemon binds the port once and passes it to every process as fd 3, systemd-style), "
    '`ready = { notify = true }` (the app sends `READY=1`), `reload = "surge"` (a new '
    'process ready before the old one of its index is stopped) or `"rolling"` (stop one, '
    "start it again, wait until ready, then the next); `procward reload web` returns when "
    'done. **PM2**: `exec_mode: "cluster"`, `instances: 2`; `pm2 reload web` replaces the '
    "workers one at a time behind node's cluster master, which holds the port (default "
    "`listen_timeout`, SIGINT to the old worker). **Circus**: `[socket:web]` bound by "
    "circusd, `use_sockets = True`, the app on `$(circus.sockets.web)`; `circusctl reload "
    "web --waiting` spawns 2 new processes, then stops the 2 oldest (graceful: SIGTERM). "
    "**supervisord** holds no socket: `numprocs = 2` processes each binding the port with "
    "`SO_REUSEPORT`, `supervisorctl restart web:*` (stops both, then starts both, "
    "`startsecs = 1`); and **gunicorn** (`--workers 2`, sync workers, its master holding "
    "the port) as a supervisord program, `supervisorctl signal HUP web` (gunicorn starts "
    "new workers, then stops the old ones gracefully; the command returns at once, so the "
    "bench's /proc check is the end of that reload).",
    "Summary row: each system's best way in this run (fewest failed requests, then the "
    "lower p99), e.g. supervisord's is gunicorn's HUP when it fails fewer. PM2's failures "
    "so far were all timeouts (connections accepted, never answered) during a reload's "
    "worker hand-over, 2 to 6 per 5 reloads in each run tried. Latency is not "
    "compared there: with the same Python app, procward's and Circus's p99 each moved "
    "between 4.7 and 6.9 ms from one run to the next on this 2-core machine.",
]
