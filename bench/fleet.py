"""The fleet (issue 17), procward alone: ``python -m bench.fleet [--quick] [--out FILE]``.

What it measures, on this machine, with a real redis-server (Debian's) and
real daemons, each in its own home with its own node name and TCP port:

- ``fleet status`` latency: the CLI command's wall time, and the ``getFleet``
  call alone on a kept connection, at 3 nodes and with 50 more simulated
  nodes' records written into Redis (status is one round trip either way);
- failover: ``procward kill`` of the node running a ``count = 1`` app until it
  runs on another node, median of 5 (the killed node comes back between
  runs); with heartbeat 0.2 s and offline_after 2 s, so the figure is
  offline_after plus what procward adds;
- the cost of the fleet to an idle daemon: RSS and CPU of two daemons with
  the same 10 apps, one a node (default timings: heartbeat 2 s), one not,
  over the same windows.

Skipped, saying so, without redis-server or the redis package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.scenarios import Section
from procward.kit.testing import free_port, wait_for

SHORT = 'heartbeat = "0.2s"\noffline_after = "2s"\nelection_timeout = "0.5s-1s"\n'
APPS = 10


class Redis:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(root), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 10, what="redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(8).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class Daemon:
    """One procward daemon in its own home; a fleet node when ``cluster`` is given."""

    def __init__(
        self, root: Path, name: str, cluster: str | None, placed: bool, fleet: str = "bench"
    ) -> None:
        self.name = name
        self.home = root / name
        self.home.mkdir()
        self.port = free_port()
        self.env = {**os.environ, "PROCWARD_HOME": str(self.home), "PROCWARD_CGROUP": "off"}
        for var in ("PROCWARD_INSTANCE", "PROCWARD_CONNECT", "PROCWARD_TOKEN"):
            self.env.pop(var, None)
        body = ""
        if cluster is not None:
            body += textwrap.dedent(f"""
                [daemon.cluster]
                enabled = true
                redis = "{cluster}"
                name = "{fleet}"
                node = "{name}"
                advertise = "127.0.0.1:{self.port}"
                """)
            body += SHORT if placed and fleet == "bench" else ""
        for i in range(APPS):
            body += f'\n[apps.app{i}]\ncmd = ["sleep", "100000"]\n'
        if placed:
            body += textwrap.dedent(f"""
                [apps.reporter]
                cmd = ["{sys.executable}", "-c", "import time; time.sleep(100001)"]
                stop_timeout = "2s"
                placement = {{ count = 1 }}
                """)
        self.config = self.home / "procward.toml"
        self.config.write_text(body)
        self.pid = 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "procward", *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)

    def start(self) -> None:
        for args in (
            ("up",),
            ("network", "--tcp", f"127.0.0.1:{self.port}"),
            ("up", "-c", str(self.config)),
        ):
            done = self.cli(*args)
            if done.returncode != 0:
                raise RuntimeError(f"{self.name}: procward {args}: {done.stdout} {done.stderr}")
        self.pid = int(self.call("ping")["pid"])

    @property
    def socket(self) -> str:
        return str(self.home / "default" / "daemon.sock")

    def call(self, method: str, **params: Any) -> Any:
        from procward.kit._client import Client

        with Client.open(self.socket, timeout=5) as client:
            return client.call(method, params)

    def runs(self, app: str) -> bool:
        try:
            return self.call("getApp", name=app)["instances"][0]["state"] == "running"
        except Exception:
            return False

    def close(self) -> None:
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self.cli("kill")


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def status_latency(node: Daemon, runs: int) -> tuple[list[float], list[float]]:
    """(``procward fleet status`` wall times, ``getFleet`` call times on a kept connection)."""
    from procward.kit._client import Client

    command = []
    for _ in range(runs):
        began = time.perf_counter()
        done = node.cli("fleet", "status")
        command.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
    calls = []
    with Client.open(node.socket, timeout=5) as client:
        for _ in range(runs * 5):
            began = time.perf_counter()
            client.call("getFleet", {})
            calls.append(time.perf_counter() - began)
    return command, calls


def simulate_nodes(url: str, count: int, fleet: str) -> None:
    """``count`` more node records, as real nodes write them (live for a minute)."""
    from redis.asyncio import Redis as Client

    from procward.fleet.store import FleetStore, NodeRecord

    async def write() -> None:
        redis = Client.from_url(url, decode_responses=True)
        store = FleetStore(redis, fleet)
        apps = {f"app{i}": [1, 1] for i in range(APPS)}
        for i in range(count):
            record = NodeRecord(f"sim-{i:03}", f"10.0.{i // 250}.{i % 250}:9700", {"zone": "sim"})
            await store.heartbeat(
                NodeRecord(record.name, record.address, record.labels, "x", apps), 60
            )
        await redis.aclose()

    asyncio.run(write())


def failover(nodes: list[Daemon], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        runner = wait_for(
            lambda: [n for n in nodes if n.runs("reporter")], 30, what="reporter running"
        )
        assert len(runner) == 1
        victim = runner[0]
        began = time.monotonic()
        victim.cli("kill")
        others = [n for n in nodes if n is not victim]
        wait_for(lambda o=others: any(n.runs("reporter") for n in o), 30, what="reporter elsewhere")
        times.append(time.monotonic() - began)
        victim.start()
    return times


def idle_cost(root: Path, url: str, seconds: float, windows: int) -> dict[str, tuple[float, float]]:
    """{"off"/"on": (RSS MiB, % of a core)}: two daemons, 10 apps each, the same windows."""
    off = Daemon(root, "idle-off", None, placed=False)
    on = Daemon(root, "idle-on", url, placed=False, fleet="idle")  # a fleet of its own
    try:
        off.start()
        on.start()
        wait_for(lambda: on.call("getFleet")["leader"], 30, what="the idle node leading")
        time.sleep(seconds)  # let start-up settle: the figure is the idle daemon's
        shares: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(windows):
            before = {k: procs.cpu(d.pid) for k, d in (("off", off), ("on", on))}
            began = time.monotonic()
            time.sleep(seconds)
            spent = time.monotonic() - began
            for key, daemon in (("off", off), ("on", on)):
                ns = procs.cpu(daemon.pid).runtime_ns - before[key].runtime_ns
                shares[key].append(100 * ns / 1e9 / spent)
        return {
            key: (procs.memory_kib(d.pid)["VmRSS"] / 1024, statistics.median(shares[key]))
            for key, d in (("off", off), ("on", on))
        }
    finally:
        off.close()
        on.close()


def status_rows(root: Path, url: str, runs: int) -> list[str]:
    """At the default timings (heartbeat 2 s): what reading a fleet in use costs."""
    nodes = [Daemon(root, f"s{i}", url, True, fleet="status") for i in (1, 2, 3)]
    try:
        for node in nodes:
            node.start()
        wait_for(lambda: len(nodes[0].call("getFleet")["nodes"]) == 3, 30, what="3 nodes")
        rows = []
        for label in ("3 nodes", "3 nodes + 50 simulated"):
            if label != "3 nodes":
                simulate_nodes(url, 50, "status")
            command, calls = status_latency(nodes[0], runs)
            rows.append(f"| {label} | {median_ms(command)} | {median_ms(calls)} |")
        ping = []
        for _ in range(runs):
            began = time.perf_counter()
            nodes[0].cli("ping")
            ping.append(time.perf_counter() - began)
        rows.append(f"| (`procward ping`, the floor) | {median_ms(ping)} | |")
    finally:
        for node in nodes:
            node.close()
    head = "| fleet status (heartbeat 2 s) | `procward fleet status` | `getFleet` call |"
    return [head, "|---|---|---|", *rows, ""]


def failover_rows(root: Path, url: str) -> list[str]:
    nodes = [Daemon(root, f"n{i}", url, placed=True) for i in (1, 2, 3)]
    try:
        for node in nodes:
            node.start()
        times = failover(nodes, 5)
    finally:
        for node in nodes:
            node.close()
    each = ", ".join(f"{t:.2f}" for t in times)
    return [
        "| failover (heartbeat 0.2 s, offline_after 2 s) | median of 5 | each |",
        "|---|---|---|",
        "| `procward kill` of the node running a count = 1 app → running elsewhere "
        f"| {statistics.median(times):.2f} s | {each} s |",
        "",
    ]


def idle_rows(root: Path, url: str, quick: bool) -> list[str]:
    windows, seconds = (3, 5.0) if quick else (5, 30.0)
    cost = idle_cost(root, url, seconds, windows)
    head = f"| idle daemon, {APPS} apps, {windows} windows of {seconds:g} s | RSS | CPU, median |"
    return [
        head,
        "|---|---|---|",
        *(
            f"| cluster {key} | {rss:.1f} MiB | {share:.3f} % |"
            for key, (rss, share) in cost.items()
        ),
    ]


def sections(quick: bool) -> list[Section]:
    """The three tables, as sections of ``python -m bench``'s report (part ``fleet``)."""
    missing = _missing()
    if missing is not None:
        return [Section("Fleet (procward alone)", ["skipped"], notes=[missing])]
    root = Path(tempfile.mkdtemp(prefix="pw-bench-fleet-"))
    server = Redis(root)
    try:
        tables = [
            status_rows(root, server.url, 5 if quick else 20),
            failover_rows(root, server.url),
            idle_rows(root, server.url, quick),
        ]
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    return [_section(lines) for lines in tables]


def _section(lines: list[str]) -> Section:
    """A Markdown table (its first line the header, then the separator) as a section."""

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    table = [line for line in lines if line.startswith("|")]
    notes = [line for line in lines if line and not line.startswith("|")]
    head = cells(table[0])
    return Section(f"Fleet: {head[0]} (procward alone)", head, [cells(r) for r in table[2:]], notes)


def _missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "skipped: no redis-server (apt-get install redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "skipped: no redis package (pip install 'procward[fleet]')"
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet")
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter windows")
    parser.add_argument("--out", type=Path, help="write the report (Markdown) here too")
    args = parser.parse_args(argv)
    missing = _missing()
    if missing is not None:
        print(f"bench.fleet: {missing}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="pw-bench-fleet-"))
    server = Redis(root)
    try:
        lines = ["# procward fleet (issue 17)", ""]
        lines += status_rows(root, server.url, 5 if args.quick else 20)
        lines += failover_rows(root, server.url)
        lines += idle_rows(root, server.url, args.quick)
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
