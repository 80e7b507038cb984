"""The chaos suite's knobs, its tally, and the one-line summary printed at the end.

Knobs (environment): ``PROCWARD_CHAOS_SEED`` replays a run (every failure
prints the seed it ran with), ``PROCWARD_CHAOS_KILLS`` is the number of
kill -9s of the daemon, ``PROCWARD_CHAOS_EXAMPLES`` the number of fuzzed
inputs per transport, ``PROCWARD_CHAOS_FLOOD`` the idle anonymous connections
per network transport of the flood test. The defaults are the short version ``make test`` runs;
``make chaos`` raises them.

The tally is process-wide so that every chaos test adds to it, and
``pytest_terminal_summary`` prints it as one line that is easy to quote::

    chaos: 200 kills, 200 exact recoveries, 15000 inputs fuzzed, 0 crashes, peak daemon RSS 31.2 MiB
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from procward.kit._lock import lock_holder
from procward.kit._paths import InstancePaths

from ..daemon.conftest import daemon, load_apps, write_config  # noqa: F401 - the fixtures


def seed() -> int:
    """The run's seed: ``PROCWARD_CHAOS_SEED`` to replay, else a fresh one."""
    given = os.environ.get("PROCWARD_CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(1 << 32)


@contextlib.contextmanager
def replayable(run_seed: int) -> Iterator[None]:
    """Whatever fails inside says which seed replays it."""
    try:
        yield
    except BaseException as exc:
        exc.add_note(f"replay with PROCWARD_CHAOS_SEED={run_seed}")
        raise


def kills() -> int:
    return int(os.environ.get("PROCWARD_CHAOS_KILLS", "8"))


def examples() -> int:
    return int(os.environ.get("PROCWARD_CHAOS_EXAMPLES", "200"))


def flood() -> int:
    """Idle anonymous connections per network transport in the flood test."""
    return int(os.environ.get("PROCWARD_CHAOS_FLOOD", "300"))


@dataclass
class Tally:
    kills: int = 0
    exact: int = 0  # recoveries with the exact process set
    inputs: int = 0  # fuzzed frames and requests sent
    crashes: int = 0  # daemons that died of their own accord or never came back
    peak_rss: int = 0  # bytes, the largest resident set of any daemon sampled
    ran: bool = False

    def sample_rss(self, pid: int | None) -> int:
        """Record the RSS of daemon ``pid`` (0 if it is gone); return it."""
        rss = rss_of(pid) if pid else 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def line(self) -> str:
        return (
            f"chaos: {self.kills} kills, {self.exact} exact recoveries, "
            f"{self.inputs} inputs fuzzed, {self.crashes} crashes, "
            f"peak daemon RSS {self.peak_rss / (1 << 20):.1f} MiB"
        )


TALLY = Tally()


def daemon_pid(paths: InstancePaths) -> int | None:
    """The pid holding the instance lock: the daemon, by the kernel's word."""
    return lock_holder(paths.lock) if os.path.exists(paths.lock) else None


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.ran:
        terminalreporter.write_sep("=", TALLY.line())
