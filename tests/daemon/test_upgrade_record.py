"""The product's upgrade hand-over as a record (``parts/upgrade.py``).

What ``procward upgrade`` hands to the next program is a versioned
``HandOver``; a hand-over of another version, or one that does not read,
is refused (logged) and the start goes on as after a crash of the daemon:
the processes not adopted are ended, and what should run starts again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from procward.daemon.parts.upgrade import (
    VERSION,
    HandedInstance,
    HandOver,
    handed_pids,
    read_hand_over,
)
from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import alive, app_instances, start_sleepers, wait_state

# As ``Instance.hand_over()`` returns one (procward 0.1).
HANDED = {
    "app": "web",
    "index": 1,
    "pid": 4242,
    "started_wall": 1796264929.09,
    "started_at": 1234.5,
    "restarts": 2,
    "attempt": 0,
    "budget": [1200.0, 1210.5],
    "fds": {"out": 7, "err": 8},
    "sinks": {"out": {"partial": "half a li"}},
}


def test_a_hand_over_reads_back_as_written() -> None:
    handover = HandOver(instances=[HandedInstance.from_instance(HANDED)], sockets={"web": [9]})
    payload = handover.as_dict()
    assert payload["version"] == VERSION
    assert read_hand_over(payload) == handover
    # What Instance.adopt() takes; procward 0.1 handed no credentials directory, no cgroup.
    assert handover.instances[0].as_dict() == {**HANDED, "credentials": None, "cgroup": None}
    in_cgroup = {**HANDED, "credentials": None, "cgroup": "/sys/fs/cgroup/x/apps/web.1"}
    assert HandedInstance.from_instance(in_cgroup).as_dict() == in_cgroup
    with_files = {
        **HANDED,
        "credentials": "/run/procward/default/credentials/web.1.0a1b2c3d",
        "cgroup": None,
    }
    assert HandedInstance.from_instance(with_files).as_dict() == with_files


def test_a_hand_over_of_today_without_a_version_is_version_1() -> None:
    # procward 0.1 wrote no version: an upgrade from it must adopt its apps.
    handover = read_hand_over({"instances": [HANDED], "sockets": {}})
    assert handover is not None
    assert handed_pids(handover) == {4242}


def test_no_hand_over_is_none() -> None:
    assert read_hand_over(None) is None
    assert handed_pids(None) == set()
    assert read_hand_over({}) == HandOver()  # the kit's "app" was empty


def test_another_version_is_refused_and_said(caplog: pytest.LogCaptureFixture) -> None:
    assert read_hand_over({"version": VERSION + 1, "instances": [HANDED]}) is None
    assert f"version {VERSION + 1}, this program reads version {VERSION}" in caplog.text
    assert "started again from state.json" in caplog.text


def test_a_hand_over_that_does_not_read_is_refused_naming_the_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = {**HANDED, "fds": {"out": "7"}}
    assert read_hand_over({"instances": [broken]}) is None
    assert "hand-over.instances[0].fds['out']: expected int, got str" in caplog.text


NEWER = """
import sys
from procward.daemon.service import ProcwardDaemon

class Newer(ProcwardDaemon):  # hands over what only a newer program would read
    async def on_handover(self):
        payload, fds = await super().on_handover()
        return {**payload, "version": 99}, fds

if "--check" in sys.argv:  # the upgrade's pre-flight of the next program (this one)
    raise SystemExit(0)
raise SystemExit(Newer().run())
"""


def test_a_refused_hand_over_leaves_no_app_unsupervised(
    cli: Callable[..., Result], paths: InstancePaths, tmp_path: Path
) -> None:
    stderr = tmp_path / "daemon.err"
    with open(stderr, "wb") as err:
        daemon = subprocess.Popen([sys.executable, "-c", NEWER], stderr=err)
    try:
        wait_for(lambda: os.path.exists(paths.socket), what="the daemon's socket")
        [before] = start_sleepers(cli, paths, "web")
        shown = cli("upgrade")
        assert shown.code == 0, shown.err
        with Client.open(paths.socket) as client:
            assert client.call("ping")["pid"] == daemon.pid  # upgraded in place all the same
            wait_for(
                lambda: app_instances(client, "web")[0]["pid"] not in (None, before),
                what="web again",
            )
            wait_state(client, "web", "running")
        wait_for(lambda: not alive(before), what="the process not adopted to end")
        said = stderr.read_text()
        assert "cannot adopt what the previous program handed over (version 99" in said
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
