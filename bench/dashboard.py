"""The dashboard's cost to an idle daemon: none while nobody watches (issue 16).

procward alone (the peers have no such page). The daemon runs ``IDLE_APPS``
apps and HTTP on loopback; its CPU is read over the same windows as the idle
scenario, three times: before any dashboard was opened, while one is open (a
reader of ``/events/stream`` with a viewer token, what the page's ``fetch``
does), and after it closed. A page in a browser costs the daemon no more than
that stream: everything it shows comes through it.
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
from bench.scenarios import Section
from bench.supervision import IDLE_APPS, Plan, _fresh, _up, sleep_apps
from bench.systems import AppSystem, AppSystemFactory

STREAM_PATH = "/events/stream"


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
