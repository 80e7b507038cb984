"""Processes seen through /proc: identity, memory, and a forceful clean-up.

These helpers deliberately do not use procward's own code: they are the safety
net for when procward misbehaves.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Proc:
    """A process, named by pid and start time so a recycled pid is never mistaken for it."""

    pid: int
    starttime: int

    def is_alive(self) -> bool:
        stat = _read_stat(self.pid)
        return stat is not None and stat[1] == self.starttime and stat[0] != "Z"


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state, starttime) of ``pid`` from /proc/PID/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = raw[raw.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


def proc(pid: int) -> Proc | None:
    stat = _read_stat(pid)
    return None if stat is None else Proc(pid, stat[1])


def command_line(pid: int, limit: int = 80) -> str:
    """``pid``'s command line for a message (shortened), or "gone"."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return "gone"
    text = " ".join(a.decode(errors="replace") for a in argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def memory_kib(pid: int) -> dict[str, int]:
    """The ``Vm*`` lines of /proc/PID/status (VmRSS, VmHWM, ...) in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key.startswith("Vm") and rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    return values


def maps_file(pid: int, fragment: str) -> bool:
    """Does ``pid`` have a file whose path contains ``fragment`` mapped (a loaded .so)?"""
    with open(f"/proc/{pid}/maps") as f:
        return any(fragment in line for line in f)


def has_environment(pid: int, key: str, value: str) -> bool:
    """Does ``pid``'s (initial) environment hold ``key=value``? False if it is gone."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{key}={value}".encode() in f.read().split(b"\0")
    except OSError:
        return False


def process_group(pid: int) -> int | None:
    """The process group of ``pid`` (field 5 of /proc/PID/stat), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(raw[raw.rindex(b")") + 2 :].split()[2])


def children(pid: int) -> list[Proc]:
    """The live (not zombie) children of ``pid``, of any of its threads; none if it is gone."""
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    found = [proc(child) for child in pids]
    return [p for p in found if p is not None and p.is_alive()]


@dataclass(frozen=True, slots=True)
class CpuSample:
    """The CPU a process has used so far, summed over its threads."""

    ticks: int  # utime + stime of /proc/PID/stat, in clock ticks (SC_CLK_TCK)
    runtime_ns: int  # sum of /proc/PID/task/*/schedstat's first field (time on a CPU)
    switches: int  # voluntary + involuntary context switches of every thread: wake-ups


def cpu(pid: int) -> CpuSample:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rindex(b")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    runtime = switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                runtime += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt")):
                        switches += int(line.split()[1])
    return CpuSample(ticks, runtime, switches)


def with_environment(key: str, value: str) -> list[Proc]:
    """Live processes (other than this one) whose environment has ``key=value``."""
    wanted = f"{key}={value}".encode()
    found: list[Proc] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            p = proc(int(entry))
            if p is not None and p.is_alive():
                found.append(p)
    return found


def kill_and_wait(p: Proc, timeout: float = 5.0) -> bool:
    """SIGKILL ``p`` (only if it is still that very process); True once it has exited."""
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return True
    try:
        if not p.is_alive():  # checked after pidfd_open: the pid cannot be recycled now
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        return wait_exit(fd, timeout)
    finally:
        os.close(fd)


def wait_exit(pidfd: int, timeout: float) -> bool:
    """Block until the pidfd's process exits or ``timeout`` s pass (no polling)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([pidfd], [], [], left)
            return bool(readable)
