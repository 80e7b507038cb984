"""Random kill -9 of the daemon in the middle of what operators do, then exact recovery.

One test drives a daemon through a seeded random walk of CLI commands
(start, stop, restart, scale, a rolling reload, loadConfig of a changed
procward.toml, a config reload, an in-place upgrade), each run as a user
would run it, and SIGKILLs the daemon (the pid holding the instance lock) at
a random moment while the command runs. The next CLI call brings a daemon
back; then the processes must be exactly what the operators were told:

- every app has the number of live instances of its last acknowledged
  intent (a command that exited 0 before the kill is never lost), running if
  it is meant to run, none if not;
- no duplicates and no orphans: the process groups that carry this daemon's
  marker (``PROCWARD_DAEMON`` in their environment) are exactly the groups of
  the instances the daemon reports, each with its leader alive.

A command the kill interrupted (non-zero exit) may have taken effect or
not: either is accepted, per app, and what the daemon shows becomes the
intent from then on. The kill moment is the one deliberate sleep here: it is
the fault being injected, not a wait for a condition.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from procward.kit._client import Client
from procward.kit._control import wait_exit
from procward.kit._errors import RpcError
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for
from procward.supervision import process
from procward.supervision.state import marked_groups

from ..conftest import Result, end_apps_of
from .conftest import TALLY, daemon_pid, kills, replayable, seed

pytestmark = pytest.mark.chaos

ALWAYS = ("a", "pair", "c")  # always in procward.toml
OPTIONAL = "d"  # in the file or not: loadConfig adds and removes it
SLEEPER = '["sleep", "1000"]'
COMMANDS = {
    # "pair" leads a group of two processes: a child that outlives its leader is an orphan.
    "pair": '["sh", "-c", "sleep 1000 & exec sleep 1000"]',
}
GROUP_SIZE = {"pair": 2}  # processes in one instance's group; 1 for the others
SETTLE = 20.0  # s for a restarted daemon to reach the exact process set


@dataclass(frozen=True)
class Intent:
    """What an app may look like after recovery: one value each once acknowledged."""

    present: frozenset[bool] = frozenset({True})
    wanted: frozenset[bool] = frozenset({True})
    count: frozenset[int] = frozenset({1})

    @property
    def exact(self) -> bool:
        return len(self.present) == len(self.wanted) == len(self.count) == 1

    def either(self, other: Intent) -> Intent:
        return Intent(
            self.present | other.present, self.wanted | other.wanted, self.count | other.count
        )


Model = dict[str, Intent]


@dataclass
class Command:
    argv: list[str]
    expect: Model  # the intent once the command has succeeded
    longest: float = 0.5  # s: the kill falls in [0, longest) after the command starts


@dataclass
class Walk:
    """The random walk: its RNG, the file it edits, the intent so far, what went wrong."""

    rng: random.Random
    config: str
    model: Model
    failures: list[str] = field(default_factory=list)

    def file_counts(self) -> dict[str, int]:
        counts = {name: self.rng.randint(1, 3) for name in ALWAYS}
        if self.rng.random() < 0.5:
            counts[OPTIONAL] = self.rng.randint(1, 2)
        return counts

    def write_config(self, counts: dict[str, int]) -> None:
        body = "".join(
            f"[apps.{name}]\ncmd = {COMMANDS.get(name, SLEEPER)}\n"
            f'instances = {count}\nmin_start = "0s"\n\n'
            for name, count in counts.items()
        )
        with open(self.config, "w") as f:
            f.write(body)

    def next_command(self) -> Command:
        model = self.model
        present = [n for n, i in model.items() if i.exact and True in i.present]
        name = self.rng.choice(present)
        now = model[name]
        kind = self.rng.choice(
            ["start", "stop", "restart", "scale", "reload", "load", "reconfig", "upgrade", "all"]
        )
        if kind == "all":  # start all / stop all: every app at once
            wanted = self.rng.choice([True, False])
            expect = {
                n: replace(i, wanted=_ONE[wanted]) if n in present else i for n, i in model.items()
            }
            return Command(["start" if wanted else "stop", "all"], expect)
        if kind == "start":
            return Command(["start", name], {**model, name: replace(now, wanted=_ONE[True])})
        if kind == "stop":
            return Command(["stop", name], {**model, name: replace(now, wanted=_ONE[False])})
        if kind == "restart":
            return Command(["restart", name], {**model, name: replace(now, wanted=_ONE[True])})
        if kind == "scale":
            count = self.rng.randint(0, 3)
            expect = replace(now, count=frozenset({count}))
            return Command(["scale", name, str(count)], {**model, name: expect})
        if kind == "reload" and True in now.wanted:
            return Command(["reload", name], dict(model), longest=0.8)
        if kind == "upgrade":
            # killed after it asked, `upgrade` waits for a daemon that is not coming
            # back until --timeout (30 s by default): 5 s keeps the walk going
            return Command(["upgrade", "--timeout", "5"], dict(model), longest=1.8)
        # "load", "reconfig", and "reload" of a stopped app (nothing to replace): a new file
        counts = self.file_counts()
        self.write_config(counts)
        if kind == "load":  # `up -c`: loadConfig, which starts every app of the file
            return Command(["up", "-c", self.config], _loaded(model, counts, start=True), 0.8)
        return Command(["reload"], _loaded(model, counts, start=False), 0.8)  # reloadConfig


_ONE = {True: frozenset({True}), False: frozenset({False})}


def _loaded(model: Model, counts: dict[str, int], *, start: bool) -> Model:
    expect: Model = {}
    for name in (*ALWAYS, OPTIONAL):
        was = model.get(name, Intent(present=_ONE[False]))
        if name not in counts:
            expect[name] = Intent(present=_ONE[False], wanted=_ONE[False], count=frozenset({0}))
            continue
        added = True not in was.present
        wanted = _ONE[True] if start or added else was.wanted
        expect[name] = Intent(_ONE[True], wanted, frozenset({counts[name]}))
    return expect


# -- looking at what runs ---------------------------------------------------------


def observe(paths: InstancePaths) -> dict[str, dict[str, Any]]:
    with Client.open(paths.socket, timeout=10) as client:
        apps = client.call("status")["apps"]
    return {app["name"]: app for app in apps}


def mismatch(paths: InstancePaths, model: Model) -> str | None:
    """What differs from the intent and from an exact process set; None if nothing."""
    try:
        apps = observe(paths)
    except (OSError, RpcError) as exc:
        return f"no status: {exc!r}"
    problems = [p for name, intent in model.items() if (p := _app_mismatch(apps, name, intent))]
    problems += [f"{name}: unexpected app" for name in apps if name not in model]
    known = {i["pid"] for app in apps.values() for i in app["instances"] if i["pid"]}
    me = {os.getpid(), os.getpgid(0), daemon_pid(paths) or 0}
    groups = marked_groups(paths.state_dir, exclude=me, live=process.live_groups())
    if orphans := sorted(set(groups) - known):
        problems.append(f"orphan or duplicate groups {orphans}: {groups}")
    if headless := sorted(g for g, pids in groups.items() if g not in pids):
        problems.append(f"groups whose leader is gone: {headless}")
    if unmarked := sorted(known - set(groups)):
        problems.append(f"reported pids with no live marked group: {unmarked}")
    sizes = {
        i["pid"]: GROUP_SIZE.get(name, 1) for name, app in apps.items() for i in app["instances"]
    }
    if crowded := {g: pids for g, pids in groups.items() if len(pids) > sizes.get(g, 1)}:
        problems.append(f"duplicate processes in a group: {crowded}")
    return "; ".join(problems) or None


def _app_mismatch(apps: dict[str, dict[str, Any]], name: str, intent: Intent) -> str | None:
    app = apps.get(name)
    if app is None:
        return None if False in intent.present else f"{name}: missing"
    if True not in intent.present:
        return f"{name}: deleted, still there"
    wanted = app["desired"] == "running"
    instances = app["instances"]
    if wanted not in intent.wanted:
        return f"{name}: desired {app['desired']}, intent {set(intent.wanted)}"
    if len(instances) not in intent.count:
        return f"{name}: {len(instances)} instances, intent {set(intent.count)}"
    states = [(i["state"], i["pid"]) for i in instances]
    if wanted and not all(state == "running" and pid for state, pid in states):
        return f"{name}: meant to run, instances {states}"
    if not wanted and any(pid for _, pid in states):
        return f"{name}: stopped, yet instances {states}"
    return None


def observed_model(paths: InstancePaths) -> Model:
    apps = observe(paths)
    model = {
        name: Intent(
            _ONE[True],
            _ONE[app["desired"] == "running"],
            frozenset({len(app["instances"])}),
        )
        for name, app in apps.items()
    }
    model.setdefault(OPTIONAL, Intent(_ONE[False], _ONE[False], frozenset({0})))
    return model


# -- the fault ----------------------------------------------------------------------


def kill_during(paths: InstancePaths, command: Command, rng: random.Random) -> tuple[int, bool]:
    """Run ``command`` and SIGKILL the daemon at a random moment; (exit status, killed)."""
    delay = rng.uniform(0.0, command.longest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "procward", *command.argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(delay)  # the fault's moment, drawn from the seed
        pid = daemon_pid(paths)
        if pid is None:  # between daemons: kill the next one as soon as it holds the lock
            pid = wait_for(lambda: daemon_pid(paths) or proc.poll() is not None, 10, what="daemon")
        killed = isinstance(pid, int) and not isinstance(pid, bool)
        if killed:
            TALLY.sample_rss(pid)
            os.kill(pid, signal.SIGKILL)
            assert wait_exit(pid, 10), f"daemon {pid} survived SIGKILL"
        return proc.wait(60), killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def recover(walk: Walk, paths: InstancePaths, cli: Callable[..., Result], label: str) -> bool:
    """Bring a daemon back with a CLI call; wait for the exact process set."""
    back = cli("ping")
    if back.code != 0:
        TALLY.crashes += 1
        walk.failures.append(f"{label}: `procward ping` failed: {back.err.strip()}")
        return False
    TALLY.sample_rss(daemon_pid(paths))
    try:
        wait_for(lambda: mismatch(paths, walk.model) is None, SETTLE, interval=0.05)
    except AssertionError:
        walk.failures.append(f"{label}: {mismatch(paths, walk.model)}")
        end_apps_of(paths.state_dir)  # start clean for the next round, then go on
        return False
    return True


def walk_with_kills(
    run_seed: int, cli: Callable[..., Result], paths: InstancePaths, home: str
) -> None:
    """Kill the daemon ``kills()`` times during random commands; each recovery exact."""
    walk = Walk(random.Random(run_seed), os.path.join(home, "procward.toml"), {})
    counts = walk.file_counts()
    walk.write_config(counts)
    assert cli("up", "-c", walk.config).code == 0
    walk.model = _loaded({}, counts, start=True)
    wait_for(lambda: mismatch(paths, walk.model) is None, SETTLE, what="the first apps")
    done = 0
    for round_ in range(1, 10 * kills() + 1):
        if done >= kills() or len(walk.failures) >= 3:
            break
        command = walk.next_command()
        code, killed = kill_during(paths, command, walk.rng)
        done += killed
        TALLY.kills += killed
        before = walk.model
        walk.model = (
            command.expect
            if code == 0
            else {n: before.get(n, command.expect[n]).either(command.expect[n]) for n in before}
        )
        label = f"round {round_} `procward {' '.join(command.argv)}` exit {code}"
        if recover(walk, paths, cli, label):
            TALLY.exact += killed
        walk.model = observed_model(paths)
    assert done >= kills(), f"only {done} kills in {round_} rounds"
    assert not walk.failures, "\n".join(walk.failures)


def test_random_kill_9s_recover_the_exact_process_set(
    cli: Callable[..., Result], paths: InstancePaths, home: str
) -> None:
    TALLY.ran = True
    run_seed = seed()
    with replayable(run_seed):
        walk_with_kills(run_seed, cli, paths, home)
    assert cli("down").code == 0
    assert not marked_groups(paths.state_dir, exclude={os.getpid(), os.getpgid(0)})


def test_the_check_sees_an_orphan_a_lost_instance_and_a_lost_intent(
    cli: Callable[..., Result], paths: InstancePaths, home: str
) -> None:
    # The oracle itself: a marked process the daemon does not know, an instance
    # killed behind its back and an intent it was never told must all show.
    walk = Walk(random.Random(0), os.path.join(home, "procward.toml"), {})
    walk.write_config({"a": 1, "pair": 1, "c": 1})
    assert cli("up", "-c", walk.config).code == 0
    model = _loaded({}, {"a": 1, "pair": 1, "c": 1}, start=True)
    wait_for(lambda: mismatch(paths, model) is None, SETTLE, what="the apps")
    stray = subprocess.Popen(
        ["sleep", "1000"],
        env={**os.environ, "PROCWARD_DAEMON": paths.state_dir},
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: f"orphan or duplicate groups [{stray.pid}]" in (mismatch(paths, model) or "")
        )
    finally:
        stray.kill()
        stray.wait()
    wait_for(lambda: mismatch(paths, model) is None, SETTLE, what="the stray gone")
    stopped = {**model, "a": replace(model["a"], wanted=_ONE[False])}
    assert mismatch(paths, stopped) == "a: desired running, intent {False}"
    scaled = {**model, "c": replace(model["c"], count=frozenset({2}))}
    assert mismatch(paths, scaled) == "c: 1 instances, intent {2}"
    assert cli("down").code == 0
