"""The dashboard (issue 16), procward alone: the peers have no such page.

``dashboard_cpu``: its cost to an idle daemon, none while nobody watches.
The daemon runs ``IDLE_APPS`` apps and HTTP on loopback; its CPU is read
over the same windows as the idle scenario, three times: before any
dashboard was opened, while one is open (a reader of ``/events/stream``
with a viewer token, what the page's ``fetch`` does), and after it closed.
A page in a browser costs the daemon no more than that stream: everything
it shows comes through it.

``first_render``: how long a real headless Chromium takes from navigating to
the dashboard of a daemon with ``RENDER_APPS`` apps to a table with all of
them (budget: 300 ms); skipped, saying so, without a browser.

``live_updates``: with that page open on ``RENDER_APPS`` apps, what drawing
the table costs the browser as apps change (the page's own
``procward:table`` measures): restarts of a few apps, then the frame of
every app the daemon sends every ``TICK`` s.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from bench import procs
from bench.chromium import Browser, find_chromium
from bench.scenarios import Check, Section, mark
from bench.supervision import IDLE_APPS, Plan, _fresh, _up, sleep_apps
from bench.systems import AppSystem, AppSystemFactory

STREAM_PATH = "/events/stream"
RENDER_APPS = 500
RENDER_BUDGET_MS = 300.0
RENDER_RUNS = 5
# Installed before the page's own scripts (DevTools is not bound by its CSP):
# the time since navigation when the apps table first holds every app.
_WATCH_ROWS = """
new MutationObserver((_, observer) => {
  if (document.querySelectorAll('tr[data-app]').length >= %d) {
    window.__rendered = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def dashboard_cpu(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    section = Section(
        f"Idle daemon CPU with a dashboard, {IDLE_APPS} apps (procward alone)",
        ["dashboard", "windows", "seconds each", "schedstat % min", "median", "max", "bytes sent"],
    )
    make = systems.get("procward")
    if make is None:
        return section
    with contextlib.ExitStack() as stack:
        system = stack.enter_context(_fresh(make, env))
        _up(system, sleep_apps(IDLE_APPS))
        system.disconnect()
        host, port, token = _dashboard_link(system)
        pid = system.daemon_pid()
        time.sleep(1.0)  # the `dashboard` command's connections and token write settle
        phases = [("never opened", None)]
        reader = _StreamReader(host, port, token)
        phases.append(("one open", reader))
        phases.append(("closed again", None))
        for label, open_reader in phases:
            if open_reader is not None:
                open_reader.start()
                open_reader.wait_first_frame(10.0)
                time.sleep(1.0)  # past the first snapshot's one-time measurement
            before = reader.received
            windows = list(_windows(pid, plan))
            sent = reader.received - before
            if open_reader is not None:
                open_reader.close()
                time.sleep(1.0)  # the daemon notices the hang-up
            section.rows.append(
                [
                    label,
                    str(plan.idle_windows),
                    f"{plan.idle_seconds:g}",
                    f"{min(windows):.4f} %",
                    f"{statistics.median(windows):.4f} %",
                    f"{max(windows):.4f} %",
                    f"{sent}" if open_reader is not None else "—",
                ]
            )
    section.notes += [
        f"One daemon, {IDLE_APPS} apps `sleep 100000`, HTTP on 127.0.0.1 (turned on by "
        "`procward dashboard --print-url`, which also made the viewer token). *schedstat %*: "
        "the daemon's time on a CPU (/proc/PID/task/*/schedstat) over each window, as in "
        "the idle scenario. *one open*: a client reading `GET /events/stream` with the "
        "token, as the page does, its first second (the snapshot and its one-time "
        "measurement of every app) left out; *bytes sent*: what it read over the windows "
        "(the 5 s frames of every app). Metrics sampling off.",
    ]
    return section


def _windows(pid: int, plan: Plan) -> Iterator[float]:
    for _ in range(plan.idle_windows):
        before, t0 = procs.cpu(pid), time.monotonic()
        time.sleep(plan.idle_seconds)
        after, elapsed = procs.cpu(pid), time.monotonic() - t0
        yield (after.runtime_ns - before.runtime_ns) / 1e9 / elapsed * 100


def _dashboard_link(system: AppSystem) -> tuple[str, int, str]:
    """Host, port and token of ``procward dashboard --print-url`` (HTTP turned on)."""
    cmd = system.command("dashboard", "--print-url", "--role", "viewer")  # type: ignore[attr-defined]
    out = subprocess.run(
        cmd.argv, env=cmd.env, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    url = next(word for word in out.split() if word.startswith("http://"))
    parts = urlsplit(url)
    token = parts.fragment.removeprefix("token=")
    assert parts.hostname is not None and parts.port is not None and token
    return parts.hostname, parts.port, token


class _StreamReader:
    """``GET /events/stream`` read in a thread until closed; counts the bytes."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.address = (host, port)
        self.token = token
        self.received = 0
        self.first = threading.Event()
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=10)
        request = (
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {self.address[0]}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.thread.start()

    def _read(self) -> None:
        assert self.sock is not None
        self.sock.settimeout(None)
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                self.received += len(chunk)
                if b"\n\n" in chunk:
                    self.first.set()

    def wait_first_frame(self, timeout: float) -> None:
        if not self.first.wait(timeout):
            raise RuntimeError(f"no frame from {STREAM_PATH} within {timeout:g} s")

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        self.thread.join(5)


def first_render(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    section = Section(
        f"Dashboard first render, {RENDER_APPS} apps, headless Chromium (procward alone)",
        ["runs", "min", "median", "max", "budget", "result"],
    )
    make = systems.get("procward")
    executable = find_chromium()
    missing = _missing_browser(executable)
    if make is None or executable is None or missing:
        section.notes.append(f"Not measured: {missing or 'procward is not in this run'}.")
        return section
    times: list[float] = []
    with _served(make, env, executable) as (_, url, browser):
        for _ in range(RENDER_RUNS + 1):  # the first warms the browser's cache and the daemon
            page = browser.open_page()
            try:
                page.send("Page.addScriptToEvaluateOnNewDocument", source=_WATCH_ROWS % RENDER_APPS)
                page.navigate(url)
                times.append(float(page.wait_for("window.__rendered", timeout=30)))
            finally:
                page.close()
    measured = times[1:]
    median = statistics.median(measured)
    check = Check(
        f"procward: dashboard first render, {RENDER_APPS} apps, median",
        f"{median:.0f} ms",
        f"≤ {RENDER_BUDGET_MS:g} ms (issue 16)",
        median <= RENDER_BUDGET_MS,
    )
    section.checks.append(check)
    section.rows.append(
        [
            str(len(measured)),
            f"{min(measured):.0f} ms",
            f"{median:.0f} ms",
            f"{max(measured):.0f} ms",
            f"≤ {RENDER_BUDGET_MS:g} ms",
            mark(check.ok),
        ]
    )
    section.notes.append(
        f"A daemon with {RENDER_APPS} apps `sleep 100000`, a viewer token from `procward "
        "dashboard --print-url`; each run a new tab navigates to the link and a "
        "MutationObserver, installed before the page's scripts, notes `performance.now()` "
        f"(from the navigation's start) when the table first holds all {RENDER_APPS} rows: "
        "the page, its assets, the token moved to session storage, the stream opened, the "
        f"snapshot of every app received and drawn. {RENDER_RUNS} runs after one warm-up "
        "(the browser's cache holds the assets after it, as a user's would)."
    )
    return section


UPDATE_RESTARTS = 20


def live_updates(
    systems: Mapping[str, AppSystemFactory], env: Mapping[str, str], plan: Plan
) -> Section:
    section = Section(
        f"Dashboard live updates, {RENDER_APPS} apps, headless Chromium (procward alone)",
        ["what changed", "draws", "median", "max"],
    )
    make = systems.get("procward")
    executable = find_chromium()
    missing = _missing_browser(executable)
    if make is None or executable is None or missing:
        section.notes.append(f"Not measured: {missing or 'procward is not in this run'}.")
        return section
    from procward.dashboard.live import TICK
    from procward.kit._client import Client

    with contextlib.ExitStack() as stack:
        system, url, browser = stack.enter_context(_served(make, env, executable))
        page = browser.open_page()
        stack.callback(page.close)
        page.navigate(url)
        page.wait_for(f"document.querySelectorAll('tr[data-app]').length === {RENDER_APPS}", 30)
        time.sleep(1.0)  # the first frames drawn
        draws = "performance.getEntriesByName('procward:table').map(e => e.duration)"
        page.evaluate("performance.clearMeasures('procward:table')")
        client = stack.enter_context(Client.open(system.paths.socket, timeout=30.0))  # type: ignore[attr-defined]
        for i in range(UPDATE_RESTARTS):
            client.call("restartApp", name=f"a{i * (RENDER_APPS // UPDATE_RESTARTS)}")
            time.sleep(0.1)
        time.sleep(1.0)  # the last events' apps frame (every 0.25 s)
        restarts = list(page.evaluate(draws))
        page.evaluate("performance.clearMeasures('procward:table')")
        time.sleep(TICK + 0.5)  # at least one frame of every app
        ticks = list(page.evaluate(draws))
    for label, times in (
        (f"{UPDATE_RESTARTS} restarts, 0.1 s apart", restarts),
        (f"the frame of all apps (every {TICK:g} s), quiet", ticks),
    ):
        section.rows.append(
            [
                label,
                str(len(times)),
                f"{statistics.median(times):.1f} ms" if times else "—",
                f"{max(times):.1f} ms" if times else "—",
            ]
        )
    section.notes.append(
        "One page open on a daemon with the apps of the first render; *draws*: the times "
        "the page brought its apps table up to date (at most once an animation frame, "
        "whatever came), each measured by the page itself (`performance.measure`, "
        "`procward:table`): computing every row's cells and replacing those that changed."
    )
    return section


@contextlib.contextmanager
def _served(
    make: AppSystemFactory, env: Mapping[str, str], executable: str
) -> Iterator[tuple[AppSystem, str, Browser]]:
    """A daemon with ``RENDER_APPS`` apps, its dashboard's link (a viewer token), a browser."""
    with contextlib.ExitStack() as stack:
        system = stack.enter_context(_fresh(make, env))
        _up(system, sleep_apps(RENDER_APPS))
        system.disconnect()
        host, port, token = _dashboard_link(system)
        browser = Browser(executable)
        stack.callback(browser.close)
        yield system, f"http://{host}:{port}/#token={token}", browser


def _missing_browser(executable: str | None) -> str | None:
    if executable is None:
        return "no chromium on this machine (apt-get install chromium)"
    try:
        import websocket  # noqa: F401 - the CDP client's (the dev extras)
    except ImportError:
        return "no websocket-client (pip install -e '.[dev]')"
    return None
