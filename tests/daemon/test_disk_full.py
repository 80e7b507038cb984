"""A full disk never costs the apps (issue 11, items 6 and 8; decision 0031).

On a tiny tmpfs filled to the last byte: a daemon killed with -9 is
replaced by one that supervises its apps (the same ones, from the first
command on: no respawn per command, no duplicate, no orphan under init);
a change an operator asks for is made but answered with an error saying it
could not be saved; a start that fails after spawning ends what it spawned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from procward.kit._client import Client
from procward.kit._lock import is_locked
from procward.kit._paths import InstancePaths, resolve
from procward.kit.testing import instances, reap
from procward.supervision.state import marked_groups

from ..conftest import Result, TinyDisk, end_apps_of
from .conftest import kill_9, pid_of, start_sleepers, wait_state


@pytest.fixture
def disk(home: str, tiny_disk: TinyDisk, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyDisk]:
    """``PROCWARD_HOME`` on a tiny tmpfs; its daemon and apps ended before it is unmounted."""
    tiny = os.path.join(tiny_disk.path, "h")
    monkeypatch.setenv("PROCWARD_HOME", tiny)
    try:
        yield tiny_disk
    finally:
        for name in instances(tiny):
            paths = resolve("procward", name, env={"PROCWARD_HOME": tiny})
            reap(paths)
            end_apps_of(paths.state_dir)


@pytest.fixture
def tiny_paths(disk: TinyDisk) -> InstancePaths:
    return resolve("procward")


def _apps_running(state_dir: str) -> dict[int, list[int]]:
    """Process groups of live processes marked as this instance's apps."""
    return marked_groups(state_dir, exclude={os.getpid(), os.getpgid(0)})


def test_a_kill_9_on_a_full_disk_leaves_the_apps_supervised_never_respawned_per_command(
    disk: TinyDisk, tiny_paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    start_sleepers(cli, tiny_paths, "a", "b")
    kill_9(tiny_paths)
    disk.fill()
    seen, said = [], []
    for _ in range(3):
        said.append(cli("status"))
        seen.append(_apps_running(tiny_paths.state_dir))
    assert len(seen[0]) == 2, f"one group per app, no duplicate: {seen[0]}"
    assert seen[0] == seen[1] == seen[2], "the apps were started again by a command"
    assert is_locked(tiny_paths.lock), "no daemon supervises the apps"
    for result in said:
        assert "cannot save" in result.err, result.err  # said loudly...
        assert result.code == 1  # ...and in the exit status
    with Client.open(tiny_paths.socket) as client:
        daemon = int(client.call("ping")["pid"])
        assert {pid_of(client, "a"), pid_of(client, "b")} == set(seen[0])
        for pgid in seen[0]:
            with open(f"/proc/{pgid}/stat") as f:
                assert int(f.read().rpartition(")")[2].split()[1]) == daemon  # its children
    result = cli("down")  # and it stops by the book, disk full or not
    assert result.code == 0, result.err
    assert not _apps_running(tiny_paths.state_dir)


def test_a_change_that_cannot_be_saved_is_answered_with_an_error(
    disk: TinyDisk, tiny_paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    start_sleepers(cli, tiny_paths, "quiet", "other")
    assert cli("stop", "other").code == 0
    disk.fill()
    for change in (("start", "other"), ("stop", "quiet")):
        result = cli(*change)
        assert result.code != 0, f"{change}: {result}"
        assert "not saved" in result.err and "No space left on device" in result.err
    with Client.open(tiny_paths.socket) as client:  # made all the same, while it runs
        wait_state(client, "other", "running")
        wait_state(client, "quiet", "stopped")
    disk.free()
    result = cli("start", "quiet")  # the disk takes writes again: saved, and so no error
    assert result.code == 0, result.err
    with open(tiny_paths.state) as f:
        desired = {a["spec"]["name"]: a["desired"] for a in json.load(f)["apps"]}
    assert desired == {"quiet": True, "other": True}
    assert cli("status").code == 0
    assert cli("down").code == 0


FAILS_AFTER_ON_START = """
from procward.daemon.service import ProcwardDaemon

class Broken(ProcwardDaemon):
    async def on_start(self):
        await super().on_start()
        raise OSError(28, "No space left on device")

raise SystemExit(Broken().run())
"""


def test_a_start_that_fails_after_spawning_ends_what_it_spawned(
    paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    start_sleepers(cli, paths, "web")
    kill_9(paths)
    intent = _intent(paths)
    run = subprocess.run(
        [sys.executable, "-c", FAILS_AFTER_ON_START],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "No space left on device" in run.stderr
    assert not _apps_running(paths.state_dir), "a daemon that never served left apps"
    assert _intent(paths) == intent == {"web": (True, False)}, "a failed start changed intent"
    assert cli("ping").code == 0  # the next daemon starts what should run
    with Client.open(paths.socket) as client:
        wait_state(client, "web", "running")
    assert cli("down").code == 0


def _intent(paths: InstancePaths) -> dict[str, tuple[bool, bool]]:
    """What ``state.json`` says should run: per app, (desired, held down)."""
    with open(paths.state) as f:
        apps = json.load(f)["apps"]
    return {a["spec"]["name"]: (a["desired"], a["held"]) for a in apps}


def test_no_upgrade_while_the_state_cannot_be_saved(
    disk: TinyDisk, tiny_paths: InstancePaths, cli: Callable[..., Result]
) -> None:
    # The next program restores the apps from state.json: a stale one would
    # not know them.
    start_sleepers(cli, tiny_paths, "web")
    with Client.open(tiny_paths.socket) as client:
        before = (int(client.call("ping")["pid"]), pid_of(client, "web"))
    disk.fill()
    result = cli("upgrade")
    assert result.code != 0
    assert "upgrade refused" in result.err and "No space left on device" in result.err
    with Client.open(tiny_paths.socket) as client:
        assert (int(client.call("ping")["pid"]), pid_of(client, "web")) == before
        assert client.call("ping")["uptime"] > 0
    disk.free()
    assert cli("down").code == 0
