"""Secrets reach real children: a real Supervisor in-process, a fake store, real processes.

The daemon's store is another part (issue 13); here a ``FakeSecrets`` is the
``SecretSource`` and everything else is real: spawns, exits reaped on
SIGCHLD, credentials directories on disk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from procward.kit._paths import InstancePaths
from procward.supervision.machine import State
from procward.supervision.spec import AppSpec, RestartMode
from procward.supervision.supervisor import Supervisor
from tests.supervision.fakes import FakeSecrets

DB = b"postgres://app:hunter2@db/app"


@asynccontextmanager
async def supervisor(tmp_path: Path, source: FakeSecrets | None) -> AsyncIterator[Supervisor]:
    """A real supervisor whose children are reaped on SIGCHLD, as the daemon's are."""
    paths = InstancePaths("procward", "t", str(tmp_path / "run"), str(tmp_path / "state"))
    sup = Supervisor(paths, environ={"PATH": os.environ["PATH"]}, secrets=source)
    # Through the loop's wakeup fd, as in the daemon (kit._daemon's handlers set it):
    # a SIGCHLD taken by another thread (pytest-xdist's) must still wake the loop.
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGCHLD, sup.reaper.reap)
    try:
        yield sup
    finally:
        try:
            await sup.stop(list(sup.apps), force=True)
        finally:
            sup.close_logs()
            loop.remove_signal_handler(signal.SIGCHLD)


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait, turning the loop, until ``predicate()`` holds; fail after ``timeout``."""
    deadline = loop_time() + timeout
    while not predicate():
        assert loop_time() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.01)


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def sh(script: str) -> tuple[str, ...]:
    """``sh -c script``; ``$$`` because procward expands ``$VAR`` in a command."""
    return ("sh", "-c", script.replace("$", "$$"))


def test_a_secret_reaches_the_environment_and_nothing_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    source = FakeSecrets({"db_url": DB})

    async def main() -> None:
        async with supervisor(tmp_path, source) as sup:
            script = f'printf %s "$DATABASE_URL" > {out}.tmp; mv {out}.tmp {out}; exec sleep 60'
            spec = AppSpec("api", sh(script), secrets={"DATABASE_URL": "db_url"})
            app = sup.add(spec, "test", desired=False)
            await sup.start(["api"])
            await until(out.exists)
            assert out.read_bytes() == DB
            inst = app.instances[0]
            assert inst.record.pid is not None
            # Nothing of the instance holds the value once it runs; views show the name.
            assert inst._launch is None
            assert DB.decode() not in repr(vars(inst))
            assert sup.launch(spec, 0).env["DATABASE_URL"] == "<secret:db_url>"
            # A changed secret is read at the next spawn (`procward reload APP`);
            # until then the instance says it runs with the old value.
            assert "outdated_secrets" not in inst.snapshot()
            source.store["db_url"] = b"new"
            assert sup.secret_changed("db_url") == ["api"]
            assert sup.secret_changed("unused") == []
            assert inst.snapshot()["outdated_secrets"] == ["db_url"]
            out.unlink()
            await sup.restart(["api"])
            await until(out.exists)
            assert out.read_bytes() == b"new"
            assert "outdated_secrets" not in inst.snapshot()
            assert source.asked == [("db_url",), ("db_url",)]  # once per spawn

    asyncio.run(main())


def test_a_file_mode_secret_is_a_file_removed_when_the_process_ends(tmp_path: Path) -> None:
    source = FakeSecrets({"db_url": DB, "k": b"\xff\x00binary"})

    async def main() -> None:
        async with supervisor(tmp_path, source) as sup:
            mine = f"{tmp_path}/seen.$PROCWARD_INDEX"
            script = (
                f'printf "%s\\n%s\\n" "$CREDENTIALS_DIRECTORY" "$DB" > {mine}.tmp; '
                f"cat $CREDENTIALS_DIRECTORY/db_url >> {mine}.tmp; mv {mine}.tmp {mine}; "
                "exec sleep 60"
            )
            out = tmp_path / "seen.0"  # instance 0's
            secrets = {"DB": "db_url", "K": "k"}
            spec = AppSpec("api", sh(script), secrets=secrets, secrets_as="files", instances=2)
            app = sup.add(spec, "test", desired=False)
            await sup.start(["api"])
            await until(out.exists)
            directory, db_var, value = out.read_bytes().split(b"\n")
            assert db_var == b"" and value == DB  # in the file, not in the environment
            directory = directory.decode()
            assert os.path.dirname(directory) == str(tmp_path / "run" / "credentials")
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
            assert Path(directory, "k").read_bytes() == b"\xff\x00binary"
            dirs = {i.credentials for i in app.instances}
            assert directory in dirs and None not in dirs and len(dirs) == 2
            await sup.scale("api", 1)  # scale down: its directory goes with it
            assert [i.credentials for i in app.instances] == [app.instances[0].credentials]
            assert os.listdir(tmp_path / "run" / "credentials") == [
                os.path.basename(str(app.instances[0].credentials))
            ]
            await sup.stop(["api"])  # a stop: gone
            assert app.instances[0].credentials is None
            assert os.listdir(tmp_path / "run" / "credentials") == []

    asyncio.run(main())


def test_a_file_mode_directory_goes_when_the_process_exits(tmp_path: Path) -> None:
    async def main() -> None:
        async with supervisor(tmp_path, FakeSecrets({"s": b"v"})) as sup:
            spec = AppSpec(
                "job",
                sh("test -s $CREDENTIALS_DIRECTORY/s && exit 3"),
                secrets={"S": "s"},
                secrets_as="files",
                restart=RestartMode.NEVER,
            )
            app = sup.add(spec, "test", desired=False)
            await sup.start(["job"])
            inst = app.instances[0]
            await until(lambda: inst.state is State.EXITED)
            assert inst.record.exit_code == 3  # it found its file
            assert inst.credentials is None
            assert os.listdir(tmp_path / "run" / "credentials") == []

    asyncio.run(main())


def test_a_missing_secret_fails_only_its_app_naming_the_secret(tmp_path: Path) -> None:
    async def main() -> None:
        async with supervisor(tmp_path, FakeSecrets({"db_url": DB})) as sup:
            spec = AppSpec("api", ("sleep", "60"), secrets={"K": "stripe_key"}, max_restarts=0)
            api = sup.add(spec, "test", desired=False)
            other = sup.add(
                AppSpec("other", ("sleep", "60"), min_start=0.01), "test", desired=False
            )
            await sup.start(["api", "other"])
            await until(lambda: api.instances[0].state in (State.BACKOFF, State.CRASHED))
            await until(lambda: other.instances[0].state is State.RUNNING)
            assert other.instances[0].state is State.RUNNING
            why = "apps.api.secrets: no secret named 'stripe_key'"
            assert str(api.instances[0].record.error).startswith(why)
            assert str(api.last_error).startswith(f"instance 0: {why}")

    asyncio.run(main())


def test_without_a_store_an_app_with_secrets_says_so(tmp_path: Path) -> None:
    async def main() -> None:
        async with supervisor(tmp_path, None) as sup:
            spec = AppSpec("api", ("sleep", "60"), secrets={"DB": "db_url"}, max_restarts=0)
            api = sup.add(spec, "test", desired=False)
            await sup.start(["api"])
            await until(lambda: api.instances[0].record.error is not None)
            assert api.instances[0].record.error == (
                "apps.api.secrets: no secret store: cannot give 'db_url'"
            )

    asyncio.run(main())


def test_stale_directories_are_removed_but_those_kept(tmp_path: Path) -> None:
    async def main() -> None:
        async with supervisor(tmp_path, FakeSecrets({"s": b"v"})) as sup:
            kept = sup.credentials.write("api.0", {"s": b"v"})
            stale = sup.credentials.write("api.1", {"s": b"v"})
            assert sup.credentials.remove_stale(keep={kept}) == [stale]
            assert os.path.isdir(kept) and not os.path.exists(stale)

    asyncio.run(main())


def test_an_exec_probe_runs_with_the_values(tmp_path: Path) -> None:
    from procward.supervision.probe import Probe, ProbeKind

    async def main() -> None:
        async with supervisor(tmp_path, FakeSecrets({"db_url": DB})) as sup:
            # Told apart from a placeholder without writing the value in the probe.
            check = (
                f'test "${{#DATABASE_URL}}" -eq {len(DB)} && '
                'test "${DATABASE_URL%%:*}" = postgres'
            )
            probe = Probe(ProbeKind.EXEC, argv=sh(check), interval=0.05)
            spec = AppSpec("api", ("sleep", "60"), secrets={"DATABASE_URL": "db_url"}, ready=probe)
            app = sup.add(spec, "test", desired=False)
            await sup.start(["api"])  # it waits for the ready probe to pass
            inst = app.instances[0]
            await until(lambda: inst.state is State.RUNNING)
            assert inst.prober.passing
            assert "hunter2" not in str(inst.prober.snapshot())

    asyncio.run(main())
