"""procward as PID 1 of a container: ``procward run -c FILE --logs`` in a new PID namespace.

``unshare --pid --fork --mount-proc`` makes the namespace (skipped where it
is missing or not permitted). The namespace's processes are looked at from
outside, by the pids this test sees: procward is the child of ``unshare``,
the apps and the orphans they leave are procward's children. Each test
ends the namespace by its init's pid (SIGKILL to it ends every process in it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator

import pytest

from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def _namespaces_work() -> str | None:
    """None if this machine lets us make a PID namespace, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    try:
        done = subprocess.run(
            [*UNSHARE, "true"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare does not run: {exc}"
    if done.returncode != 0:
        return f"cannot make a PID namespace here (needs root or user namespaces): {done.stderr}"
    return None


pytestmark = pytest.mark.skipif(
    (why := _namespaces_work()) is not None, reason=why or "namespaces work"
)


class Container:
    """``unshare … procward run …``: its output as it comes, its processes by outside pid."""

    def __init__(self, config: str, *options: str) -> None:
        argv = [*UNSHARE, sys.executable, "-m", "procward", "run", "-c", config, *options]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self._readers = [
            threading.Thread(target=_read_into, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=_read_into, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.init = wait_for(lambda: _children(self.proc.pid), 10, what="procward forked")[0]

    def stdout(self) -> str:
        return b"".join(self.out).decode()

    def stderr(self) -> str:
        return b"".join(self.err).decode()

    def children(self) -> list[int]:
        """procward's children: the apps, and what was handed to it."""
        return _children(self.init)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def end(self) -> None:
        """SIGKILL to the namespace's init ends everything in it; then collect unshare."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init, signal.SIGKILL)
            self.proc.wait(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            assert pipe is not None
            pipe.close()


def _read_into(pipe: object, into: list[bytes]) -> None:
    fd = pipe.fileno()  # type: ignore[attr-defined]
    while chunk := os.read(fd, 1 << 20):
        into.append(chunk)


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _exists(pid: int) -> bool:
    """Whether ``pid`` is still in the process table (a zombie is: nobody reaped it)."""
    return os.path.exists(f"/proc/{pid}")


@pytest.fixture
def container(home: str) -> Iterator[Callable[..., Container]]:
    started: list[Container] = []

    def start(toml: str, *options: str) -> Container:
        path = os.path.join(home, "procward.toml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(toml))
        started.append(Container(path, *options))
        return started[-1]

    yield start
    for each in started:
        each.end()


def wait_serving(paths: InstancePaths) -> None:
    def answers() -> bool:
        try:
            with Client.open(paths.socket) as client:
                return client.call("ping")["pid"] == 1  # PID 1 of its namespace
        except OSError:
            return False

    wait_for(answers, 20, what="procward serving as PID 1")


def test_as_pid_1_it_reaps_orphans_and_stops_every_app_in_order_on_sigterm(
    container: Callable[..., Container], paths: InstancePaths, home: str
) -> None:
    order = os.path.join(home, "order")
    box = container(
        f"""
        [apps.web]
        cmd = [
            "sh", "-c",
            "trap 'echo web >> {order}; exit 0' TERM; echo up; while :; do sleep 0.05; done",
        ]
        instances = 2

        [apps.orphans]
        # Five grandchildren whose parent exits at once: handed to PID 1, then they exit.
        cmd = [
            "sh", "-c",
            "for i in 1 2 3 4 5; do (sh -c 'sleep 2; exit 0' orphan &); done; exec sleep 1000",
        ]

        [apps.worker]
        cmd = [
            "sh", "-c", "trap 'echo worker >> {order}; exit 0' TERM; while :; do sleep 0.05; done"
        ]
        depends_on = ["web"]
        """,
        "--logs",
    )

    def orphans() -> list[int]:
        found = [p for p in box.children() if _cmdline(p) == "sh -c sleep 2; exit 0 orphan "]
        return found if len(found) == 5 else []

    handed = wait_for(orphans, 10, what="five orphans handed to procward")
    wait_serving(paths)
    wait_for(lambda: not any(_exists(p) for p in handed), 10, what="the orphans reaped")
    assert not [p for p in box.children() if _state(p) == "Z"]
    apps = box.children()
    os.kill(box.init, signal.SIGTERM)
    assert box.wait() == 0, box.stderr()
    with open(order) as f:
        assert f.read().split() == ["worker", "web", "web"]  # dependents first
    assert not any(_exists(p) for p in apps)
    assert re.search(r"^web\.0 +\| up$", box.stdout(), re.MULTILINE), box.stdout()
    assert re.search(r"^web\.1 +\| up$", box.stdout(), re.MULTILINE), box.stdout()
    assert "shutting down (SIGTERM)" in box.stderr()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return ""


def test_an_app_that_gives_up_ends_the_container_with_status_1(
    container: Callable[..., Container], home: str
) -> None:
    box = container(
        """
        [apps.steady]
        cmd = ["sleep", "1000"]

        [apps.flaky]
        cmd = ["sh", "-c", "echo failing; exit 3"]
        max_restarts = 2
        backoff = { initial = "0.1s", max = "0.1s" }
        """,
        "--logs",
    )
    assert box.wait() == 1, box.stderr()  # --exit-on crashed is the default with -c
    assert len(re.findall(r"^flaky\.0 +\| failing$", box.stdout(), re.MULTILINE)) == 3
    assert "flaky.0 crashed (exit status 3; --exit-on crashed)" in box.stderr()


def test_100k_lines_of_each_instance_arrive_whole_once_each_in_order(
    container: Callable[..., Container], paths: InstancePaths, home: str
) -> None:
    count = 100_000
    program = os.path.join(home, "chatty.py")
    with open(program, "w") as f:
        f.write(f"for i in range({count}):\n    print(i, 'x' * (i % 200))\n")
    box = container(
        f"""
        [apps.chatty]
        cmd = ["{sys.executable}", "{program}"]
        instances = 2
        restart = "never"
        """,
        "--logs",
    )
    wait_serving(paths)
    wait_for(lambda: box.stdout().count("\n") >= 2 * count, 60, 0.1, what="every line")
    os.kill(box.init, signal.SIGTERM)
    assert box.wait() == 0, box.stderr()[-2000:]
    seen: dict[str, list[int]] = {"chatty.0": [], "chatty.1": []}
    line = re.compile(r"(chatty\.[01]) \| (\d+) (x*)")
    for text in box.stdout().splitlines():
        found = line.fullmatch(text)
        assert found is not None, f"not a whole line: {text[:200]!r}"
        index = int(found[2])
        assert len(found[3]) == index % 200, f"cut or mixed: {text[:200]!r}"
        seen[found[1]].append(index)
    assert seen["chatty.0"] == list(range(count))
    assert seen["chatty.1"] == list(range(count))
    assert "dropped" not in box.stderr()


def test_a_sigterm_during_the_start_is_not_lost(
    container: Callable[..., Container], paths: InstancePaths
) -> None:
    """PID 1 drops a signal it has no handler for: the CLI holds it pending for the daemon."""
    box = container(
        """
        [apps.steady]
        cmd = ["sleep", "1000"]
        """
    )
    wait_for(lambda: "procward.daemon" in _cmdline(box.init), 10, 0.001, what="the exec")
    os.kill(box.init, signal.SIGTERM)  # the daemon is still importing its code
    assert box.wait(20) == 0, box.stderr()
    assert "shutting down (SIGTERM)" in box.stderr()
