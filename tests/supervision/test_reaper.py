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


CLAIMED = textwrap.dedent(
    """
    import os, subprocess, time
    from procward.kit._children import CLAIMS
    from procward.supervision.process import Reaper, become_subreaper

    assert become_subreaper()

    def zombie(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    def wait(what):
        deadline = time.monotonic() + 10
        while not what():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)

    with CLAIMS.lock:  # as kit._children.run does
        claimed = os.posix_spawnp("sh", ["sh", "-c", "exit 7"], os.environ)
        CLAIMS.pids.add(claimed)
    plain = os.posix_spawnp("sh", ["sh", "-c", "exit 5"], os.environ)
    # An orphan: its parent exits at once, it is handed to us (subreaper) and exits.
    out_r, out_w = os.pipe()
    parent = os.posix_spawnp(
        "sh", ["sh", "-c", "sh -c 'echo $$; sleep 0.2' & exit 0"], os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1)],
    )
    os.close(out_w)
    orphan = int(os.read(out_r, 100).split()[0])
    wait(lambda: all(zombie(p) for p in (claimed, plain, parent, orphan)))
    assert int(open(f"/proc/{orphan}/stat").read().rpartition(")")[2].split()[1]) == os.getpid()
    seen = {}
    reaper = Reaper(lambda pid, status: seen.__setitem__(pid, status))
    CLAIMS.on_release = reaper.reap
    reaper.reap()
    assert claimed not in seen and zombie(claimed), "the claimed child was taken"
    # Its waiter collects it with its real status; the release reaps what it hid.
    pid, status = os.waitpid(claimed, 0)
    assert os.waitstatus_to_exitcode(status) == 7, status
    CLAIMS.release(claimed)
    def reaped_the_rest():
        reaper.reap()
        return plain in seen and not zombie(orphan)

    wait(reaped_the_rest)
    assert os.waitstatus_to_exitcode(seen[plain]) == 5
    assert not any(zombie(p) for p in (plain, parent, orphan))
    print("ok")
    """
)


def test_a_claimed_child_is_left_to_its_waiter_and_the_rest_is_reaped() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLAIMED], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


RACE = textwrap.dedent(
    """
    import os, threading, time
    from procward.kit import _children as children
    from procward.supervision.process import Reaper, become_subreaper

    assert become_subreaper()
    seen = []
    reaper = Reaper(lambda pid, status: seen.append(pid))
    codes = []

    def run_many():
        for _ in range(200):
            codes.append(children.run(["sh", "-c", "exit 3"], timeout=10).returncode)

    waiter = threading.Thread(target=run_many)
    waiter.start()
    spawned = set()
    while waiter.is_alive():  # a reaper as busy as SIGCHLD would make it
        spawned.add(os.posix_spawnp("sh", ["sh", "-c", "true & exit 0"], os.environ))
        reaper.reap()
    waiter.join()
    deadline = time.monotonic() + 10
    while not spawned <= set(seen) and time.monotonic() < deadline:
        reaper.reap()
        time.sleep(0.01)
    assert codes == [3] * 200, sorted(set(codes))
    assert spawned <= set(seen)
    print("ok")
    """
)


def test_a_busy_reaper_never_takes_the_status_of_a_claimed_child() -> None:
    """``subprocess`` reads a child reaped under it as exit status 0: claimed, it is not."""
    done = subprocess.run(
        [sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
