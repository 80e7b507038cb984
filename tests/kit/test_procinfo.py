"""Process identity from /proc, checked against real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from procward.kit import _procinfo as procinfo
from procward.kit._procinfo import ProcessIdentity, boot_id, starttime
from procward.kit.testing import wait_for


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by a test, killed by pid and reaped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().rstrip("\n")


def spawn(children: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv)
    children.append(proc)
    return proc


def test_starttime_of_self_matches_proc() -> None:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state), so field 22 is fields[19]
    assert starttime(os.getpid()) == int(fields[19])


def test_current_identity_is_this_process_on_this_boot() -> None:
    me = ProcessIdentity.current()
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert boot_id() == f.read().strip() != ""
    assert me == ProcessIdentity.of(os.getpid())
    assert (me.pid, me.boot_id) == (os.getpid(), boot_id())
    assert me.matches_live()


def test_a_pid_that_cannot_exist_has_no_identity() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        impossible = int(f.read()) + 1
    assert starttime(impossible) is None
    assert ProcessIdentity.of(impossible) is None


def test_a_reaped_child_has_no_identity_and_no_longer_matches(
    children: list[subprocess.Popen[bytes]],
) -> None:
    child = spawn(children, "sleep", "60")
    recorded = ProcessIdentity.of(child.pid)
    assert recorded is not None
    assert recorded.matches_live()
    child.kill()
    child.wait()
    assert ProcessIdentity.of(child.pid) is None
    assert not recorded.matches_live()


def test_another_starttime_or_boot_does_not_match(children: list[subprocess.Popen[bytes]]) -> None:
    child = spawn(children, "sleep", "60")
    recorded = ProcessIdentity.of(child.pid)
    assert recorded is not None
    pid, ticks, boot = recorded.pid, recorded.starttime, recorded.boot_id
    assert ProcessIdentity(pid, ticks, boot).matches_live()
    assert not ProcessIdentity(pid, ticks + 1, boot).matches_live()
    assert not ProcessIdentity(pid, ticks, "another-boot").matches_live()


def test_a_child_starts_no_earlier_than_its_parent(
    children: list[subprocess.Popen[bytes]],
) -> None:
    child = spawn(children, "sleep", "60")
    mine, its = starttime(os.getpid()), starttime(child.pid)
    assert mine is not None
    assert its is not None
    assert its >= mine


@pytest.mark.parametrize("name", ["a (b) c", "x) 1 2 3 (", ")) ) ("])
def test_a_command_name_with_spaces_and_parentheses_parses(
    name: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    odd = tmp_path / name
    shutil.copy(sleep, odd)
    before = spawn(children, sleep, "60")
    weird = spawn(children, str(odd), "60")
    after = spawn(children, sleep, "60")
    # The test really exercises an odd comm. The kernel sets it a moment after
    # closing the exec's close-on-exec fds, where Popen sees the exec done: wait.
    wait_for(lambda: comm(weird.pid) == name, 5, what=f"comm {name!r}")
    ticks = [starttime(p.pid) or 0 for p in (before, weird, after)]
    assert 0 not in ticks
    # A parser thrown off by the name would read some other field (state, ppid, ...):
    # the odd process must fall between the two started just before and after it.
    assert ticks == sorted(ticks)
    identity = ProcessIdentity.of(weird.pid)
    assert identity is not None
    assert identity.matches_live()


def _spawn_timed() -> tuple[int, int, int]:
    before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    pid = os.posix_spawn("/bin/sleep", ["sleep", "30"], {})
    return pid, before, time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def test_a_childs_starttime_from_the_boot_clock_is_what_proc_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(procinfo, "_clock_agrees", None)
    pids = []
    try:
        for _ in range(300):
            pid, before, after = _spawn_timed()
            pids.append(pid)
            assert procinfo.born_between(pid, before, after) == ProcessIdentity.of(pid)
        assert procinfo._clock_agrees is True  # nearly all were in one tick: not read
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def test_a_kernel_that_counts_otherwise_is_read_from_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procinfo, "_clock_agrees", None)
    real = procinfo.starttime
    monkeypatch.setattr(procinfo, "starttime", lambda pid: None if real(pid) is None else 7)
    tick = procinfo._TICK_NS
    assert procinfo.born_between(os.getpid(), 50 * tick, 50 * tick + 1) == ProcessIdentity(
        os.getpid(), 7, boot_id()
    )
    assert procinfo._clock_agrees is False
    # From then on /proc, whatever the clock says.
    assert procinfo.born_between(os.getpid(), 60 * tick, 60 * tick + 1).starttime == 7


def test_a_spawn_across_a_tick_reads_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procinfo, "_clock_agrees", True)
    tick = procinfo._TICK_NS
    me = procinfo.born_between(os.getpid(), 50 * tick - 1, 50 * tick)
    assert me == ProcessIdentity.current()
