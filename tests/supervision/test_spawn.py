"""Real spawns (``process.spawn``): where a child starts, what it runs, what it holds."""

from __future__ import annotations

import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from procward.kit import _children as children
from procward.kit.testing import wait_for
from procward.supervision import process
from procward.supervision.spec import Launch

ENV = {"PATH": os.environ.get("PATH", os.defpath)}


def finish(child: process.Child) -> tuple[int, str]:
    """Wait for ``child``; its exit code and what it wrote (both streams)."""
    said = b""
    for fd in child.outputs.values():
        os.set_blocking(fd, True)  # the daemon's ends are non-blocking
        with os.fdopen(fd, "rb") as stream:
            said += stream.read()
    _, status = os.waitpid(child.pid, 0)
    return os.waitstatus_to_exitcode(status), said.decode()


def script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_child_starts_in_its_directory_and_the_daemon_stays_in_its_own(tmp_path: Path) -> None:
    here = os.getcwd()
    child = process.spawn(Launch(argv=("pwd",), env=ENV, cwd=str(tmp_path)), merge=True)
    assert finish(child) == (0, f"{tmp_path}\n")
    assert os.getcwd() == here


def test_a_relative_program_is_found_in_the_childs_directory(tmp_path: Path) -> None:
    script(tmp_path, "hello", "echo hello from $PWD")
    child = process.spawn(Launch(argv=("./hello",), env=ENV, cwd=str(tmp_path)), merge=True)
    assert finish(child) == (0, f"hello from {tmp_path}\n")


def test_a_directory_that_cannot_be_entered_is_said_and_nothing_leaks(tmp_path: Path) -> None:
    fds = set(os.listdir("/proc/self/fd"))
    gone = tmp_path / "gone"
    with pytest.raises(process.SpawnError, match=f"working directory {gone} does not exist"):
        process.spawn(Launch(argv=("true",), env=ENV, cwd=str(gone)))
    a_file = script(tmp_path, "file", "")
    with pytest.raises(process.SpawnError, match=f"working directory {a_file}: Not a directory"):
        process.spawn(Launch(argv=("true",), env=ENV, cwd=str(a_file)))
    assert set(os.listdir("/proc/self/fd")) == fds
    assert os.getcwd() != str(tmp_path)


def test_the_program_is_looked_up_on_the_apps_path_not_the_daemons(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script(bin_dir, "only-here", "echo found")
    own = Launch(argv=("only-here",), env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, cwd=None)
    assert finish(process.spawn(own, merge=True)) == (0, "found\n")
    # On the daemon's PATH, not the app's: not found, as exec would say.
    os.environ["PATH"] = f"{bin_dir}:{os.environ.get('PATH', os.defpath)}"
    try:
        narrow = Launch(argv=("only-here",), env={"PATH": "/usr/bin:/bin"}, cwd=None)
        with pytest.raises(process.SpawnError, match="only-here: command not found"):
            process.spawn(narrow)
    finally:
        os.environ["PATH"] = ENV["PATH"]


def test_a_child_holds_only_its_streams_and_what_it_is_given(tmp_path: Path) -> None:
    """The spawn's own descriptors (pipes, /dev/null, the given one's source) stay here.

    Only what the spawner left inheritable goes with a child (the daemon
    leaves nothing so: tests/daemon/test_lifecycle.py checks its descriptors).
    """
    given_r, given_w = os.pipe()
    try:
        plan = Launch(argv=("sleep", "60"), env=ENV, cwd=str(tmp_path), pass_fds=(given_r,))
        allowed = {0, 1, 2, 3} | _inherited()  # what a thread of the runner left inheritable
        child = process.spawn(plan)
        try:
            # The spawn returns when the exec has begun; the kernel closes the
            # close-on-exec descriptors a moment later, in the child's own time.
            held = lambda: {int(fd) for fd in os.listdir(f"/proc/{child.pid}/fd")}  # noqa: E731
            wait_for(lambda: held() <= allowed | _inherited(), timeout=10, what=f"{held()}")
            assert {0, 1, 2, 3} <= held()
        finally:
            os.kill(child.pid, signal.SIGKILL)
            finish(child)
    finally:
        os.close(given_r)
        os.close(given_w)


def _inherited() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd") if _inheritable(int(fd))}


def _inheritable(fd: int) -> bool:
    try:
        return os.get_inheritable(fd)
    except OSError:  # listdir's own, closed by now
        return False


def test_a_thread_spawning_meanwhile_never_starts_in_a_childs_directory(tmp_path: Path) -> None:
    """``kit._children.run`` (hooks, pre-flight) and a spawn's working directory take turns."""
    seen: list[str] = []
    done = threading.Event()

    def hooks() -> None:
        while not done.is_set() and len(seen) < 300:
            ran = children.run(["pwd"], timeout=10, capture_output=True, text=True)
            seen.append(ran.stdout.strip())

    thread = threading.Thread(target=hooks)
    thread.start()
    try:
        for _ in range(300):
            assert finish(process.spawn(Launch(argv=("true",), env=ENV, cwd=str(tmp_path))))[0] == 0
    finally:
        done.set()
        thread.join(30)
    assert seen and str(tmp_path) not in seen


def test_a_program_found_lately_is_not_looked_up_again_for_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(process.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(process, "_found", {})
    program = script(tmp_path, "tool", "")
    launch = Launch(argv=("tool",), env={"PATH": str(tmp_path)}, cwd=None)
    process.check_runnable(launch)
    program.unlink()
    now[0] += process.FOUND_FOR / 2
    process.check_runnable(launch)  # from memory: sh will say it, in the app's log
    now[0] += process.FOUND_FOR
    with pytest.raises(process.SpawnError, match="tool: command not found"):
        process.check_runnable(launch)
