"""The owner's ``status`` while the network listeners are flooded (issue 11, "Done when").

    python -m bench.abuse [--tcp N] [--http N] [--seconds S] [--addresses K]

A fresh daemon in a temporary ``PROCWARD_HOME``, five ``sleep`` apps, TCP and
HTTP on 127.0.0.1. Then, all at once, for ``--seconds``:

- ``--tcp`` anonymous TCP connections and ``--http`` HTTP connections that
  send nothing, from ``--addresses`` loopback addresses (127.0.0.2, ...) so
  that the total caps are reached, not only the per-address ones; every
  second, those the daemon closed (refused, or past the auth deadline) are
  opened again, as an attacker holding them would;
- one client that floods and never reads: a viewer on TCP pipelining
  ``status``, and an anonymous HTTP client pipelining ``GET /ping``.

Meanwhile the owner asks ``status`` on the Unix socket (a new connection
each time, as the CLI does) every 50 ms, and runs the CLI ``procward status``
every second; the daemon's VmRSS is sampled. Prints the figures, and exits 1
if the owner's status took 100 ms or more (p99 of the socket round trips) or
the daemon's RSS reached 64 MiB.

Run it against another checkout with ``PYTHONPATH=/that/src python -m bench.abuse``
(the daemon is started with the same environment).
"""

from __future__ import annotations

import _socket
import argparse
import contextlib
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from procward.kit._client import Client
from procward.kit._errors import RpcError

STATUS_EVERY = 0.05  # s between the owner's socket status calls
CLI_EVERY = 1.0  # s between CLI runs
CLI_TIMEOUT = 5.0  # s: a CLI run that takes longer counts as failed
REOPEN_EVERY = 1.0  # s between the attacker's sweeps to reopen closed connections
APPS = 5


@dataclass
class Figures:
    cli_quiet_ms: list[float] = field(default_factory=list)  # before the attack
    rpc_ms: list[float] = field(default_factory=list)
    rpc_failures: list[str] = field(default_factory=list)
    cli_ms: list[float] = field(default_factory=list)
    cli_failures: list[str] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    opened: int = 0  # connections the attacker opened, reopenings included
    flood_bytes: int = 0  # bytes the non-reading clients got the daemon to take


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse")
    parser.add_argument("--tcp", type=int, default=1000)
    parser.add_argument("--http", type=int, default=1000)
    parser.add_argument("--addresses", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.tcp + args.http + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    with daemon() as (home, pid, addresses, token):
        figures = attack(home, pid, addresses, token, args)
        refusals = _log_lines(home, ("refused", "closed a connection", "dropped"))
    return report(args, figures, refusals)


@contextlib.contextmanager
def daemon() -> Iterator[tuple[str, int, dict[str, str], str]]:
    home = tempfile.mkdtemp(prefix="pw-abuse-", dir="/tmp")
    env = {**os.environ, "PROCWARD_HOME": home}
    config = os.path.join(home, "procward.toml")
    with open(config, "w") as f:
        for i in range(APPS):
            f.write(f'[apps.sleep{i}]\ncmd = ["sleep", "100000"]\n\n')
    os.environ["PROCWARD_HOME"] = home  # for the CLI runs
    pid = None
    try:
        _cli(env, "up")
        with Client.open(_socket_path(home)) as owner:
            owner.call("loadConfig", path=config)
            owner.call("setNetwork", tcp="127.0.0.1:0", http="127.0.0.1:0")
            status = owner.call("status")["daemon"]
            pid = int(status["pid"])
            token = owner.call("createToken", role="viewer", ttl="1h")["token"]
        yield home, pid, status["addresses"], token
    finally:
        subprocess.run(
            [sys.executable, "-m", "procward", "down"],
            env=env,
            check=False,
            capture_output=True,
            timeout=60,
        )
        if pid is not None:
            _end(pid)
        shutil.rmtree(home, ignore_errors=True)


def attack(
    home: str, pid: int, addresses: dict[str, str], token: str, args: argparse.Namespace
) -> Figures:
    figures = Figures()
    figures.cli_quiet_ms = [_cli_status(figures) for _ in range(5)]
    stop = threading.Event()
    targets = [("tcp", args.tcp), ("http", args.http)]
    threads = [
        threading.Thread(target=flood_status, args=(addresses["tcp"], token, figures, stop)),
        threading.Thread(target=flood_pings, args=(addresses["http"], figures, stop)),
        threading.Thread(
            target=hold_idle, args=(addresses, targets, args.addresses, figures, stop)
        ),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # the flooders first: the viewer logs in before the caps are full
    time.sleep(1.0)  # let the caps fill
    deadline = time.monotonic() + args.seconds
    next_cli = time.monotonic()
    socket_path = _socket_path(home)
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            with Client.open(socket_path, timeout=CLI_TIMEOUT) as owner:
                owner.call("status")
        except (OSError, RpcError) as exc:
            figures.rpc_failures.append(repr(exc))
        else:
            figures.rpc_ms.append((time.perf_counter() - started) * 1000)
        figures.rss_mib.append(_rss_mib(pid))
        if time.monotonic() >= next_cli:
            next_cli += CLI_EVERY
            figures.cli_ms.append(_cli_status(figures))
        time.sleep(STATUS_EVERY)
    stop.set()
    for thread in threads:
        thread.join(30)
    return figures


def _cli_status(figures: Figures) -> float:
    """Run ``procward status``; its wall time in ms (failures noted in ``figures``)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "procward", "status"],
            check=False,
            capture_output=True,
            timeout=CLI_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        figures.cli_failures.append(f"no answer within {CLI_TIMEOUT:g}s")
    else:
        if done.returncode != 0:
            figures.cli_failures.append(done.stderr.decode(errors="replace").strip())
    return (time.perf_counter() - started) * 1000


def hold_idle(
    addresses: dict[str, str],
    targets: list[tuple[str, int]],
    sources: int,
    figures: Figures,
    stop: threading.Event,
) -> None:
    """Keep ``targets`` connections open, reopening those the daemon closes."""
    wanted = [
        (_host_port(addresses[kind]), f"127.0.0.{2 + i % sources}")
        for kind, count in targets
        for i in range(count)
    ]
    selector = selectors.DefaultSelector()
    try:
        for index, (where, source) in enumerate(wanted):
            _open(selector, index, where, source, figures)
        while not stop.wait(REOPEN_EVERY):
            for key, _ in selector.select(0):
                index = key.data
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                where, source = wanted[index]
                _open(selector, index, where, source, figures)
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()


def _open(
    selector: selectors.BaseSelector,
    index: int,
    where: tuple[str, int],
    source: str,
    figures: Figures,
) -> None:
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.bind((source, 0))
        sock.connect_ex(where)
        selector.register(sock, selectors.EVENT_READ, index)
        figures.opened += 1
    except OSError:
        sock.close()


def flood_status(address: str, token: str, figures: Figures, stop: threading.Event) -> None:
    """A viewer pipelining ``status`` and never reading a reply."""
    request = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n' * 200
    while not stop.is_set():
        with contextlib.suppress(OSError, RpcError), Client.open_tcp(address, token) as viewer:
            sock = viewer._sock  # the raw socket: pipelining is not the client's business
            figures.flood_bytes += _push(sock, request, stop)
        stop.wait(0.5)


def flood_pings(address: str, figures: Figures, stop: threading.Event) -> None:
    """Anonymous pipelined ``GET /ping`` over HTTP, never reading."""
    request = b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n" * 1000
    while not stop.is_set():
        with contextlib.suppress(OSError), socket.create_connection(_host_port(address), 5) as sock:
            figures.flood_bytes += _push(sock, request, stop)
        stop.wait(0.5)


def _push(sock: _socket.socket, chunk: bytes, stop: threading.Event) -> int:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    sent = 0
    while not stop.is_set():
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            stop.wait(0.01)
        except OSError:
            break  # dropped by the daemon
    return sent


def report(args: argparse.Namespace, figures: Figures, refusals: int) -> int:
    rpc = sorted(figures.rpc_ms)
    p99 = rpc[min(len(rpc) - 1, int(len(rpc) * 0.99))] if rpc else float("inf")
    peak = max(figures.rss_mib, default=0.0)
    print(
        f"abuse: {args.tcp} idle TCP + {args.http} idle HTTP connections from "
        f"{args.addresses} addresses, reopened every {REOPEN_EVERY:g}s "
        f"({figures.opened} opened in all), and 2 clients flooding without reading "
        f"({figures.flood_bytes / (1 << 20):.1f} MiB taken by the daemon), {args.seconds:g}s"
    )
    if rpc:
        print(
            f"owner status over the socket: median {statistics.median(rpc):.1f} ms, "
            f"p99 {p99:.1f} ms, max {rpc[-1]:.1f} ms ({len(rpc)} calls)"
        )
    if figures.rpc_failures:
        print(f"owner status failed {len(figures.rpc_failures)} times: {figures.rpc_failures[0]}")
    cli = figures.cli_ms
    print(
        f"procward status (CLI process): median {statistics.median(cli):.0f} ms, "
        f"max {max(cli):.0f} ms ({len(cli)} runs, {len(figures.cli_failures)} failed; "
        f"before the attack: median {statistics.median(figures.cli_quiet_ms):.0f} ms)"
    )
    for failure in figures.cli_failures[:3]:
        print(f"  failed: {failure}")
    print(
        f"daemon RSS: first {figures.rss_mib[0]:.1f} MiB, last {figures.rss_mib[-1]:.1f} MiB, "
        f"peak {peak:.1f} MiB"
    )
    print(f"refusal and drop lines in the daemon log: {refusals}")
    ok = p99 < 100 and peak < 64 and not figures.cli_failures and not figures.rpc_failures
    print("verdict:", "ok (status < 100 ms, RSS < 64 MiB)" if ok else "NOT MET")
    return 0 if ok else 1


def _end(pid: int) -> None:
    """SIGKILL the daemon we started if `down` did not end it within 5 s."""
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "procward", *args],
        env=env,
        check=False,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise SystemExit(f"procward {' '.join(args)} failed: {done.stderr.decode()}")


def _socket_path(home: str) -> str:
    from procward.kit._paths import resolve

    return resolve("procward", env={"PROCWARD_HOME": home}).socket


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(ln for ln in status if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _log_lines(home: str, needles: tuple[str, ...]) -> int:
    from procward.kit._paths import resolve

    try:
        with open(resolve("procward", env={"PROCWARD_HOME": home}).daemon_log) as log:
            return sum(1 for line in log if any(n in line for n in needles))
    except OSError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
