"""The reaper drains exits in bounded batches and leaves the rest to a later pass.

It calls ``waitpid(-1)``, which would reap any child of the test process, so
the check runs in a child Python of its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, time
    from procward.supervision.process import Reaper

    pids = {os.posix_spawnp("true", ["true"], os.environ) for _ in range(10)}

    def zombies():
        return sum(open(f"/proc/{p}/stat").read().split(") ")[1][0] == "Z" for p in pids)

    deadline = time.monotonic() + 10
    while zombies() < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    seen, later = [], []
    reaper = Reaper(lambda pid, status: seen.append(pid), later.append, batch=4)
    reaper.reap()
    assert len(seen) == 4 and len(later) == 1, (seen, later)
    passes = 1
    while later:
        later.pop()()
        passes += 1
    assert sorted(seen) == sorted(pids), (seen, pids)
    assert passes == 3, passes  # 4 + 4 + 2: the last pass finds no more and stops
    print("ok")
    """
)


def test_exits_are_reaped_in_batches_with_the_rest_left_to_a_later_pass() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
