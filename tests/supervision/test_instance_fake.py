"""An app's instances driven in-process: a fake clock steps timers, a fake spawner processes.

No process, no loop, no waiting: every delay below is the fake clock's.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from procward.supervision.app import App
from procward.supervision.instance import Instance
from procward.supervision.machine import Start, State, Stop
from procward.supervision.spec import AppSpec, Backoff, RestartMode
from tests.supervision.fakes import FakeHost


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(str(tmp_path / "logs"))


def one(host: FakeHost, **spec: object) -> tuple[App, Instance]:
    app = App(host, AppSpec("web", ("serve",), **spec), "test", desired=True)  # type: ignore[arg-type]
    return app, app.instances[0]


def started(host: FakeHost, inst: Instance) -> int:
    """Start ``inst`` and let it survive ``min_start``: its pid."""
    inst.send(Start())
    host.timers.advance(inst.spec.min_start)
    assert inst.state is State.RUNNING
    return host.spawner.pids[-1]


def test_a_crash_restarts_after_the_backoff_which_doubles_at_each_failure(host: FakeHost) -> None:
    _, inst = one(host, backoff=Backoff(initial=1.0, multiplier=2.0, max=30.0))
    first = started(host, inst)
    host.exit(first, code=1)
    assert inst.state is State.BACKOFF
    host.timers.advance(0.99)
    assert host.spawner.pids == [first]  # not a moment early
    host.timers.advance(0.01)
    # Running at once, not yet for its min_start (decision 0050).
    assert inst.state is State.RUNNING and not inst.record.proven and len(host.spawner.pids) == 2
    host.exit(host.spawner.pids[-1], code=1)  # at once again: the second delay is 2 s
    host.timers.advance(1.99)
    assert len(host.spawner.pids) == 2
    host.timers.advance(0.01)
    assert len(host.spawner.pids) == 3
    host.timers.advance(inst.spec.min_start)
    assert inst.state is State.RUNNING and inst.record.restarts == 2


def test_the_events_name_each_process_with_what_happened_to_it(host: FakeHost) -> None:
    _, inst = one(host)
    first = started(host, inst)
    host.exit(first, code=3)
    host.timers.advance(1.0)
    second = host.spawner.pids[-1]
    assert host.events == [
        ("web", 0, "stopped", "starting", first),
        ("web", 0, "starting", "running", first),
        ("web", 0, "running", "backoff", first),
        ("web", 0, "backoff", "starting", second),
        ("web", 0, "starting", "running", second),
    ]


def test_without_backoff_the_respawn_waits_for_the_next_pass(host: FakeHost) -> None:
    _, inst = one(host, backoff=Backoff(initial=0.0))
    first = started(host, inst)
    host.exit(first, code=1)
    assert inst.state is State.STARTING and host.spawner.pids == [first]  # not inside the reap
    host.timers.advance(0)
    second = host.spawner.pids[-1]
    assert second != first
    assert host.events[-3:] == [
        ("web", 0, "running", "backoff", first),
        ("web", 0, "backoff", "starting", second),
        ("web", 0, "starting", "running", second),
    ]


def test_the_restart_budget_once_spent_leaves_it_crashed(host: FakeHost) -> None:
    _, inst = one(host, max_restarts=2, backoff=Backoff(initial=0.5))
    pid = started(host, inst)
    for _ in range(2):
        host.exit(pid, code=1)
        host.timers.advance(10)
        pid = host.spawner.pids[-1]
    host.exit(pid, code=1)
    assert inst.state is State.CRASHED
    host.timers.advance(100)
    assert len(host.spawner.pids) == 3


def test_a_clean_exit_is_not_restarted_on_failure_only(host: FakeHost) -> None:
    _, inst = one(host, restart=RestartMode.ON_FAILURE)
    host.exit(started(host, inst), code=0)
    assert inst.state is State.EXITED
    host.timers.advance(60)
    assert len(host.spawner.pids) == 1


def test_a_stop_sends_the_stop_signal_then_kill_after_stop_timeout(host: FakeHost) -> None:
    _, inst = one(host, stop_signal="INT", stop_timeout=3.0)
    pid = started(host, inst)
    inst.send(Stop())
    assert inst.state is State.STOPPING and host.spawner.signalled(pid) == ["INT"]
    host.timers.advance(2.99)
    assert host.spawner.signalled(pid) == ["INT"]
    host.timers.advance(0.01)
    assert host.spawner.signalled(pid) == ["INT", "KILL"]
    host.exit(pid, sig=signal.SIGKILL)
    assert inst.state is State.STOPPED and inst.record.exit_signal == signal.SIGKILL


def test_a_process_that_obeys_the_stop_signal_is_not_killed(host: FakeHost) -> None:
    _, inst = one(host, stop_timeout=3.0)
    pid = started(host, inst)
    inst.send(Stop())
    host.exit(pid, sig=signal.SIGTERM)
    host.timers.advance(60)
    assert inst.state is State.STOPPED and host.spawner.signalled(pid) == ["TERM"]


def test_a_restart_stops_then_starts_a_new_process(host: FakeHost) -> None:
    _, inst = one(host)
    pid = started(host, inst)
    inst.send(Stop(restart=True))
    host.exit(pid, sig=signal.SIGTERM)
    host.timers.advance(0)  # the new process is spawned on the next pass
    assert inst.state is State.RUNNING and host.spawner.pids[-1] != pid
    assert inst.record.restarts == 0  # an operator's restart is not a failure


def test_a_failed_spawn_goes_to_the_restart_policy_and_tells_the_app(host: FakeHost) -> None:
    app, inst = one(host)
    host.spawner.fail_next = "serve: command not found"
    inst.send(Start())
    assert inst.state is State.BACKOFF
    assert app.last_error == "instance 0: serve: command not found"
    host.timers.advance(1.0)
    assert inst.state is State.RUNNING and len(host.spawner.pids) == 1


def test_cancel_timers_leaves_nothing_to_fire(host: FakeHost) -> None:
    _, inst = one(host)
    host.exit(started(host, inst), code=1)
    assert host.timers.pending()
    inst.cancel_timers()
    host.timers.advance(60)
    assert inst.state is State.BACKOFF and len(host.spawner.pids) == 1


# -- secrets (issue 13) ------------------------------------------------------------


def test_secrets_are_read_at_each_spawn_and_not_kept(host: FakeHost) -> None:
    from tests.supervision.fakes import FakeSecrets

    host.secrets = FakeSecrets({"db": b"one"})
    _, inst = one(host, secrets={"DB": "db"})
    first = started(host, inst)
    assert host.spawner.spawned[-1][1].env["DB"] == "one"
    assert inst._launch is None  # nothing cached holds the value
    host.secrets.store["db"] = b"two"
    host.exit(first, code=1)
    host.timers.advance(1.0)
    assert host.spawner.spawned[-1][1].env["DB"] == "two"


def test_a_secret_that_cannot_be_read_fails_the_spawn_naming_it(host: FakeHost) -> None:
    from tests.supervision.fakes import FakeSecrets

    host.secrets = FakeSecrets({})
    app, inst = one(host, secrets={"DB": "db"}, max_restarts=0)
    inst.send(Start())
    assert host.spawner.pids == []
    assert inst.record.error == "apps.web.secrets: no secret named 'db'"
    assert app.last_error == "instance 0: apps.web.secrets: no secret named 'db'"


def test_a_files_directory_is_given_back_when_its_process_ends_not_when_handed_over(
    host: FakeHost,
) -> None:
    from tests.supervision.fakes import FakeSecrets

    host.secrets = FakeSecrets({"db": b"v"})
    _, inst = one(host, secrets={"DB": "db"}, secrets_as="files")
    first = started(host, inst)
    directory = inst.credentials
    assert directory is not None
    assert host.spawner.spawned[-1][1].env["CREDENTIALS_DIRECTORY"] == directory
    assert "DB" not in host.spawner.spawned[-1][1].env
    host.exit(first, code=1)
    assert host.released == [directory] and inst.credentials is None
    host.timers.advance(1.0)
    host.timers.advance(inst.spec.min_start)
    handed = inst.hand_over()
    assert handed is not None and handed["credentials"] == inst.credentials
    assert len(host.released) == 1  # the process goes on under the next program
    _, heir = one(host, secrets={"DB": "db"}, secrets_as="files")
    heir.adopt(handed)
    assert heir.credentials == handed["credentials"]
