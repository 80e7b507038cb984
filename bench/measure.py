"""Timing primitives: time a command line, run commands in alternating rounds, summarise.

Pure Python on purpose: hyperfine times one command after another, while these
rounds interleave every command (floor, ping, status, floor, ping, ...) so that
drift in the machine's speed hits all of them alike.
"""

from __future__ import annotations

import math
import os
import select
import shlex
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Command:
    """A command line to time; ``label`` names it in the report."""

    label: str
    argv: tuple[str, ...]
    env: Mapping[str, str]

    @property
    def shell(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        return cls(len(samples), min(samples), statistics.median(samples), max(samples))


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of unsorted ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def run(cmd: Command, timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """Run ``cmd`` to completion; raise ``CommandFailed`` unless it exits 0."""
    proc = subprocess.run(
        cmd.argv,
        env=cmd.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise CommandFailed(f"{cmd.shell} exited with {proc.returncode}: {err}")
    return proc


def wall_time(cmd: Command) -> float:
    """Seconds from spawning ``cmd`` to reaping it: what a shell user waits.

    ``posix_spawn`` + ``waitpid`` rather than ``subprocess.run``: the latter's
    pipe and fork set-up in this (large) Python process added several
    milliseconds to every sample, the same for every system but enough to
    blur the absolute budgets.
    """
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    start = time.perf_counter()
    pid = os.posix_spawnp(cmd.argv[0], list(cmd.argv), dict(cmd.env), file_actions=devnull)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        run(cmd)  # again, to capture its error text for the exception
    return elapsed


def spawn(cmd: Command, stderr_path: str = os.devnull) -> int:
    """Start ``cmd`` (stdin and stdout on /dev/null, stderr to ``stderr_path``); its pid.

    For commands timed against something else than their own exit (``up``
    while the apps come up); reap it with ``reap``.
    """
    err_flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, stderr_path, err_flags, 0o600),
    ]
    return os.posix_spawnp(cmd.argv[0], list(cmd.argv), dict(cmd.env), file_actions=actions)


def reap(pid: int, timeout: float) -> int | None:
    """Wait up to ``timeout`` s for our child ``pid``; its exit code, None if it still runs."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # not our unreaped child any more: waitpid says why
        fd = None
    try:
        if fd is not None:
            select.select([fd], [], [], timeout)
        waited, status = os.waitpid(pid, os.WNOHANG)
    finally:
        if fd is not None:
            os.close(fd)
    return os.waitstatus_to_exitcode(status) if waited else None


def alternating(commands: Sequence[Command], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Time every command once per round, in order, so machine drift hits all alike."""
    for _ in range(warmup):
        for cmd in commands:
            wall_time(cmd)
    samples: dict[str, list[float]] = {cmd.label: [] for cmd in commands}
    for _ in range(rounds):
        for cmd in commands:
            samples[cmd.label].append(wall_time(cmd))
    return samples
