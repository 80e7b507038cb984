"""The shim: its settings words, the environment it passes on, and real spawns through it."""

from __future__ import annotations

import os
import resource

import pytest

from procward.supervision import process, spawnshim
from procward.supervision.confinement import for_spec, shim_argv
from procward.supervision.spec import AppSpec, Confinement, Launch

ENV = {"PATH": "/usr/bin:/bin"}


def words_of(confine: Confinement, env: dict[str, str] | None = None) -> list[str]:
    argv = shim_argv(confine, ("prog", "--flag"), env or ENV, 7)
    assert argv[1:4] == ("-I", "-S", spawnshim.__file__)
    return list(argv[4:])


def test_the_daemons_words_are_what_the_shim_reads() -> None:
    confine = Confinement(
        uid=65534,
        gid=65534,
        groups=(65534, 4),
        umask=0o27,
        limits=(("nofile", 10, 20), ("core", 0, -1)),
        nice=5,
        oom_score_adj=-100,
    )
    settings, argv = spawnshim.split_argv(words_of(confine))
    assert argv == ["prog", "--flag"]
    assert settings.status == 7
    assert settings.limits == [("nofile", 10, 20), ("core", 0, -1)]
    assert (settings.uid, settings.gid, settings.groups) == (65534, 65534, [65534, 4])
    assert (settings.umask, settings.nice, settings.oom_score_adj) == (0o27, 5, -100)


def test_the_locale_python_coerces_is_put_back_as_the_app_had_it() -> None:
    settings, _ = spawnshim.split_argv(words_of(Confinement(umask=0)))
    coerced = {**ENV, "LC_CTYPE": "C.UTF-8"}
    assert spawnshim.program_env(settings, coerced) == ENV
    settings, _ = spawnshim.split_argv(words_of(Confinement(umask=0), {"LC_CTYPE": "de_DE"}))
    assert spawnshim.program_env(settings, coerced)["LC_CTYPE"] == "de_DE"


@pytest.mark.parametrize(
    "args", [[], ["umask=1"], ["--"], ["bogus=1", "--", "x"], ["nice=x", "--", "x"]]
)
def test_bad_words_are_refused(args: list[str]) -> None:
    with pytest.raises((spawnshim.Failed, ValueError)):
        spawnshim.split_argv(args)


def test_an_app_that_sets_nothing_is_not_confined() -> None:
    assert for_spec(AppSpec(name="a", cmd=("x",)), None) is None
    spec = AppSpec(name="a", cmd=("x",), umask=0o22)
    assert for_spec(spec, None) == Confinement(umask=0o22)


def run(confine: Confinement, script: str, program: str = "sh") -> tuple[int, str]:
    """``sh -c script`` through the shim, to its end: (exit code, stdout).

    ``SpawnError`` if the shim said the program never ran, as the daemon
    words it when that exit is reaped.
    """
    child = process.spawn(Launch(argv=(program, "-c", script), env=ENV, cwd="/", confine=confine))
    assert child.report is not None
    _, status = os.waitpid(child.pid, 0)
    never_ran = process.last_word(child)
    assert child.report.fd == -1  # closed
    with os.fdopen(child.outputs["out"], "rb") as out:
        text = out.read().decode()
    os.close(child.outputs["err"])
    if never_ran is not None:
        raise process.SpawnError(never_ran)
    return os.waitstatus_to_exitcode(status), text


def test_a_real_spawn_starts_with_everything_applied_and_keeps_the_pid() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = min(hard, 512)
    confine = Confinement(
        umask=0o27,
        limits=(("nofile", lower // 2, lower),),
        nice=os.getpriority(os.PRIO_PROCESS, 0) + 3,
    )
    code, out = run(confine, "umask; ulimit -Sn; ulimit -Hn; echo $$; cut -d' ' -f19 /proc/$$/stat")
    assert code == 0
    mask, nofile_soft, nofile_hard, _pid, nice = out.split()
    assert (mask, int(nofile_soft), int(nofile_hard)) == ("0027", lower // 2, lower)
    assert int(nice) == confine.nice


def test_a_failure_to_apply_is_said_when_the_shim_exits_naming_the_setting() -> None:
    """The spawn returns at once, as any other; the shim's reason comes with its exit.

    It used to be a SpawnError from the spawn itself, which waited for the
    shim's word with the daemon's loop blocked (~20 ms at every such spawn).
    """
    too_many = Confinement(limits=(("nofile", 1 << 30, 1 << 30),))  # above fs.nr_open
    plan = Launch(argv=("true",), env=ENV, cwd="/", confine=too_many)
    child = process.spawn(plan)  # no SpawnError: nothing waited for
    _, status = os.waitpid(child.pid, 0)
    for fd in child.outputs.values():
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == spawnshim.FAILED
    never_ran = process.last_word(child)
    assert never_ran is not None and never_ran.startswith(
        "limits.nofile: cannot set 1073741824/1073741824: "
    )


def test_a_program_not_found_is_worded_as_for_any_spawn() -> None:
    with pytest.raises(process.SpawnError, match=r"^no-such-program-x: command not found$"):
        run(Confinement(umask=0), "true", program="no-such-program-x")


def test_a_program_that_ran_has_no_last_word() -> None:
    assert run(Confinement(umask=0o22), "umask") == (0, "0022\n")


def test_through_posix_spawn_the_passed_fds_stay_and_the_status_fd_closes() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"hello")
    os.close(write_end)
    script = "umask; head -c 5 <&3; echo; [ -e /proc/$$/fd/4 ] && echo leaked || echo closed"
    plan = Launch(
        argv=("/bin/sh", "-c", script),
        env=ENV,
        cwd=None,
        pass_fds=(read_end,),
        confine=Confinement(umask=0o77),
    )
    try:
        child = process.spawn(plan)
    finally:
        os.close(read_end)
    _, status = os.waitpid(child.pid, 0)
    with os.fdopen(child.outputs["out"], "rb") as out:
        assert out.read().decode().split() == ["0077", "hello", "closed"]
    os.close(child.outputs["err"])
    assert os.waitstatus_to_exitcode(status) == 0
