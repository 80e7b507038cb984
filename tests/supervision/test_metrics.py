"""Reading CPU and memory of process groups from /proc: real processes, plain arithmetic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from procward.kit.testing import wait_for
from procward.supervision.metrics import (
    CLOCK_TICKS,
    Meter,
    Usage,
    cpu_percent,
    process_usage,
    read_usage,
)

BUSY = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"


@pytest.fixture
def busy_group() -> Iterator[int]:
    """A process group of two: a shell and a busy Python loop under it."""
    child = subprocess.Popen(["sh", "-c", f'{sys.executable} -c "$0"; :', BUSY], process_group=0)
    try:
        wait_for(lambda: read_usage([child.pid]).get(child.pid, Usage(0, 0, 0)).processes == 2)
        yield child.pid
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def test_cpu_percent_is_the_share_of_one_core() -> None:
    second = CLOCK_TICKS
    assert cpu_percent(Usage(0, 0, 1), Usage(second, 0, 1), 1.0) == 100.0
    assert cpu_percent(Usage(0, 0, 1), Usage(second // 2, 0, 1), 2.0) == 25.0
    assert cpu_percent(Usage(50, 0, 1), Usage(10, 0, 1), 1.0) == 0.0  # a member left
    assert cpu_percent(Usage(0, 0, 1), Usage(5, 0, 1), 0.0) == 0.0


def test_a_group_is_measured_as_a_whole(busy_group: int) -> None:
    usage = read_usage([busy_group, 999_999_999])
    assert set(usage) == {busy_group}  # no such group: simply absent
    assert usage[busy_group].processes == 2
    assert usage[busy_group].rss > 1 << 20


def test_a_busy_group_uses_about_a_core(busy_group: int) -> None:
    meter = Meter(lambda: [busy_group], time.monotonic)
    meter.sample()
    assert meter.reading(busy_group) is not None
    assert meter.reading(busy_group).cpu is None  # type: ignore[union-attr]  # no interval yet
    time.sleep(0.5)
    meter.sample()
    reading = meter.reading(busy_group)
    assert reading is not None and reading.cpu is not None
    # One core on a quiet machine; a share of two on one loaded by other work.
    assert 10.0 <= reading.cpu <= 110.0
    assert meter.own is not None and meter.own.memory > 1 << 20
    meter.clear()
    assert meter.reading(busy_group) is None and meter.own is None


def test_the_daemon_process_alone() -> None:
    usage = process_usage(os.getpid())
    assert usage is not None and usage.processes == 1 and usage.rss > 1 << 20
    assert process_usage(999_999_999) is None
