"""state.json as its own record (``daemon/savedstate.py``): versioned, read in parts.

A file written by the daemon before the record (issue 12) must still load:
``todays()`` builds one, key for key as a real daemon run wrote it (two
sleepers starting, one app exited). A file of a newer format is refused
with decision 0031's error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from procward.daemon import lifecycle, savedstate
from procward.daemon.savedstate import SavedApp, SavedInstance, SavedSettings, SavedState
from procward.kit._client import Client
from procward.kit._errors import CorruptFile
from procward.kit._paths import InstancePaths
from procward.kit._procinfo import ProcessIdentity
from procward.kit._structs import RecordError, replace
from procward.supervision.machine import Record, State
from procward.supervision.state import FORMAT, StateStore

from ..conftest import Result
from .conftest import wait_all_state

BOOT_ID = "e527dcc8-5d28-4ddc-b25f-b9c75f4d0fce"


def todays(cwd: str = "/tmp/parts_home") -> dict[str, Any]:
    """A ``state.json`` of today's daemon (format 1), key for key as a real run wrote it.

    Two sleepers starting, one app exited. Fresh at each call: a test
    changes in it only what it is about.
    """
    web = spec_table("web", ["sleep", "600"], instances=2, restart="on-failure", cwd=cwd)
    once = spec_table("once", ["true"], instances=1, restart="never", cwd=cwd)
    first = starting(0, pid=8457, starttime=2743270, started_at=1796264929.0888023)
    second = starting(1, pid=8458, starttime=2743272, started_at=1796264929.0926414)
    exited = {  # written before an exited instance kept its group's identity
        "index": 0,
        "state": "exited",
        "pid": None,
        "restarts": 0,
        "started_at": None,
        "exit_code": 0,
        "exit_signal": None,
        "error": None,
        "pgid": None,
    }
    return {
        "format": 1,
        "saved_at": 1796264929.094139,
        "apps": [app_entry(web, [first, second]), app_entry(once, [exited])],
        "settings": {
            "metrics": {"enabled": False, "interval": 5.0},
            "network": {"tcp": None, "http": None},
            "max_total_instances": 10000,
        },
    }


def spec_table(
    name: str, cmd: list[str], *, instances: int, restart: str, cwd: str
) -> dict[str, Any]:
    """An app's ``spec`` as that daemon wrote it: every key, the rest at its default."""
    return {
        "name": name,
        "cmd": cmd,
        "cwd": cwd,
        "env": {},
        "instances": instances,
        "restart": restart,
        "reload": "rolling",
        "backoff": {"initial": "1s", "multiplier": 2.0, "max": "30s"},
        "max_restarts": 5,
        "restart_window": "1m",
        "min_uptime": "10s",
        "min_start": "1s",
        "stop_signal": "TERM",
        "stop_timeout": "10s",
        "depends_on": [],
        "autostart": True,
        "merge_logs": False,
        "log_time": False,
        "log_format": "text",
        "log_max_size": 10485760,
        "log_backups": 5,
    }


def starting(index: int, *, pid: int, starttime: int, started_at: float) -> dict[str, Any]:
    """An instance entry of a process starting, with its group's identity."""
    return {
        "index": index,
        "state": "starting",
        "pid": pid,
        "restarts": 0,
        "started_at": started_at,
        "exit_code": None,
        "exit_signal": None,
        "error": None,
        "starttime": starttime,
        "boot_id": BOOT_ID,
        "pgid": pid,
    }


def app_entry(spec: dict[str, Any], instances: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "spec": spec,
        "source": "/tmp/parts_home/procward.toml",
        "desired": True,
        "held": False,
        "max_instances": 256,
        "instances": instances,
    }


def file_of(state: dict[str, Any]) -> bytes:
    return json.dumps(state, indent=1).encode()


def test_a_state_file_of_today_reads_into_the_record() -> None:
    saved = savedstate.read(file_of(todays()))
    assert isinstance(saved, SavedState)
    assert saved.format == 1
    web, once = (SavedApp.from_dict(entry) for entry in saved.apps)
    assert web.spec["name"] == "web"
    assert (web.source, web.desired, web.held, web.max_instances) == (
        "/tmp/parts_home/procward.toml",
        True,
        False,
        256,
    )
    first = web.instances[0]
    assert (first.index, first.state, first.pid, first.pgid) == (0, "starting", 8457, 8457)
    assert (first.starttime, first.boot_id) == (2743270, BOOT_ID)
    assert once.instances == [
        SavedInstance(index=0, state="exited", pid=None, pgid=None, exit_code=0)
    ]
    settings = savedstate.read_settings(saved.settings, "state.json")
    assert settings == SavedSettings(max_total_instances=10000)


def test_a_record_written_reads_back_the_same() -> None:
    saved = savedstate.read(file_of(todays()))
    apps = [SavedApp.from_dict(entry) for entry in saved.apps]
    written = SavedState(saved_at=1.5, apps=apps, settings=SavedSettings()).as_dict()
    again = savedstate.read(json.dumps(written).encode())
    assert [SavedApp.from_dict(entry) for entry in again.apps] == apps
    assert SavedSettings.from_dict(again.settings) == SavedSettings()


def test_an_app_entry_that_does_not_read_names_the_field() -> None:
    entry = todays()["apps"][0]
    entry["instances"][1]["pid"] = "8458"
    with pytest.raises(RecordError, match=r"instances\[1\]\.pid: expected int, got str"):
        SavedApp.from_dict(entry)


def test_unreadable_settings_are_ignored_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    assert savedstate.read_settings({"metrics": "on"}, "state.json") == SavedSettings()
    assert "ignoring unreadable settings in state.json: settings.metrics" in caplog.text


def test_a_newer_format_is_refused_with_what_to_do(paths: InstancePaths) -> None:
    paths.ensure()
    newer = {**todays(), "format": 2}
    for name in (paths.state, paths.state + ".bak"):
        with open(name, "w") as f:
            json.dump(newer, f)
    with pytest.raises(CorruptFile) as refused:
        lifecycle.load_state(paths, upgrading=False)
    text = str(refused.value)
    assert "written by a newer procward (state format 2; this one reads format 1" in text
    assert "Not starting, and nothing touched" in text  # decision 0031
    assert "procward kill" in text
    with open(paths.state) as f:
        assert json.load(f)["format"] == 2, "the file was touched"


def test_a_daemon_starts_from_a_state_file_of_today(
    cli: Callable[..., Result], paths: InstancePaths, home: str
) -> None:
    paths.ensure()
    today = todays(cwd=home)  # the run it was taken from had its own
    for app in today["apps"]:
        for inst in app["instances"]:  # and its processes are long gone
            inst.update(pid=None, pgid=None, starttime=None, boot_id=None)
    with open(paths.state, "w") as f:
        json.dump(today, f)
    assert cli("ping").code == 0
    with Client.open(paths.socket) as client:
        wait_all_state(client, "web", "running", count=2)
        [once] = [a for a in client.call("list") if a["name"] == "once"]
        assert once["instances"][0]["state"] == "exited"
    assert cli("down").code == 0
    with open(paths.state) as f:
        kept = json.load(f)
    assert kept["format"] == 1
    for entry in kept["apps"]:  # written as the records would write themselves
        assert SavedApp.from_dict(entry).as_dict() == entry
    assert SavedState.from_dict(kept).as_dict() == kept
    assert [a["spec"]["name"] for a in kept["apps"]] == ["web", "once"]
    assert os.path.exists(paths.state + ".bak")


def _app(name: str, *records: Record, pgid: int | None = None) -> SimpleNamespace:
    """What an entry reads of an app and its instances, without a supervisor."""
    instances = [
        SimpleNamespace(
            index=i,
            record=rec,
            pgid=pgid,
            child=None
            if rec.pid is None
            else SimpleNamespace(identity=ProcessIdentity(rec.pid, 7, BOOT_ID)),
            started_wall=100.0,
        )
        for i, rec in enumerate(records)
    ]
    table = json.dumps({"name": name, "cmd": ["sleep", "1"]}).encode()
    return SimpleNamespace(
        name=name,
        table=table,
        source="f.toml",
        desired=True,
        held=False,
        max_instances=None,
        instances=instances,
    )


def test_an_apps_entry_is_encoded_again_exactly_when_what_it_says_changed() -> None:
    entries = savedstate.AppEntries()
    web, db = _app("web", Record(State.RUNNING, pid=10), pgid=10), _app("db", Record())
    first = entries.encoded([web, db])
    first_rest = entries._last["web"][1]
    assert json.loads(first[1]) == {
        "spec": {"name": "db", "cmd": ["sleep", "1"]},
        "source": "f.toml",
        "desired": True,
        "held": False,
        "max_instances": None,
        "instances": [{**SavedInstance(0, "stopped").as_dict()}],
    }
    assert SavedApp.from_dict(json.loads(first[0])).instances[0] == SavedInstance(
        0, "running", pid=10, pgid=10, starttime=7, boot_id=BOOT_ID, started_at=100.0
    )
    again = entries.encoded([web, db])
    assert again == first  # nothing changed: not encoded again
    assert entries._last["web"][1] is first_rest
    web.instances[0].record = replace(web.instances[0].record, restarts=1)
    db.desired = False
    third = entries.encoded([web, db])
    assert json.loads(third[0])["instances"][0]["restarts"] == 1
    assert json.loads(third[1])["desired"] is False
    assert entries.encoded([db]) == [third[1]]  # an app gone is forgotten
    assert list(entries._last) == ["db"]


def test_a_state_file_with_encoded_entries_reads_back_as_the_records(tmp_path: Any) -> None:
    entries = savedstate.AppEntries()
    web = _app("web", Record(State.RUNNING, pid=10), pgid=10)
    kept = {"spec": {"name": "gone"}, "instances": "not a list"}  # kept as it was
    store = StateStore(
        str(tmp_path / "state.json"),
        lambda: savedstate.snapshot(
            SimpleNamespace(apps={"web": web}), [kept], SavedSettings(), entries
        ),
    )
    saved = json.loads(store._take())
    assert saved["format"] == FORMAT and saved["apps"][1] == kept
    assert SavedApp.from_dict(saved["apps"][0]).instances[0].pid == 10
    assert SavedSettings.from_dict(saved["settings"]) == SavedSettings()
