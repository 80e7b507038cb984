"""`python -m procward.daemon`'s own argv: what `procward run` and auto-spawn pass it."""

from __future__ import annotations

import pytest

from procward.daemon.__main__ import parse


def test_defaults() -> None:
    options = parse([])
    assert (options.instance, options.detached, options.idle_shutdown) == (None, False, None)
    assert options.kill_leftovers is False


@pytest.mark.parametrize(
    "argv",
    [
        ["--instance", "web", "--detached", "--idle-shutdown", "2.5"],
        ["--instance=web", "--idle-shutdown=2.5", "--detached"],
    ],
)
def test_both_spellings(argv: list[str]) -> None:
    options = parse(argv)
    assert (options.instance, options.detached, options.idle_shutdown) == ("web", True, 2.5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["web"], "unknown argument 'web'"),
        (["--instance"], "--instance needs a value"),
        (["--idle-shutdown", "soon"], "--idle-shutdown takes seconds, not 'soon'"),
        (["--detached=yes"], "unknown argument '--detached=yes'"),
    ],
)
def test_mistakes_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m procward.daemon")
    assert err.rstrip().endswith(f"procward.daemon: {message}")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--help"])
    assert exited.value.code == 0
    assert "--kill-leftovers" in capsys.readouterr().out
