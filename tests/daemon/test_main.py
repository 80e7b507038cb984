"""`python -m procward.daemon`'s own argv: what `procward run` and auto-spawn pass it."""

from __future__ import annotations

import pytest

from procward.daemon.__main__ import parse, run_options, tls_wanted
from procward.daemon.foreground import RunOptions
from procward.kit._paths import InstancePaths
from procward.supervision.exiton import ExitOn


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
        (["--exit-on", "sometimes"], "--exit-on takes crashed, any-exit, never, not 'sometimes'"),
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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),  # a plain daemon loads none of it
        (["--config", "/srv/p.toml"], RunOptions("/srv/p.toml", ExitOn.CRASHED)),
        (["--logs"], RunOptions(None, ExitOn.NEVER, logs=True)),  # without a file: never
        (
            ["--config", "/p.toml", "--exit-on", "any-exit", "--logs", "--no-log-files"],
            RunOptions("/p.toml", ExitOn.ANY_EXIT, logs=True, log_files=False),
        ),
        (["--exit-on", "never", "--config", "/p.toml"], RunOptions("/p.toml", ExitOn.NEVER)),
    ],
)
def test_runs_foreground_options(argv: list[str], expected: RunOptions | None) -> None:
    assert run_options(parse(argv)) == expected


def test_the_foreground_options_are_refused_with_detached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_options(parse(["--detached", "--logs"]))
    assert exited.value.code == 2
    assert "are for the foreground" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        (None, False),  # no state yet
        (b"{not json", False),  # unreadable: the daemon says so later
        (b'{"format": 1, "apps": [], "settings": null}', False),
        (b'{"settings": {"network": {"tcp": "127.0.0.1:9700"}}}', False),
        (b'{"settings": {"network": {"tcp": "1.2.3.4:1", "tls_cert": ""}}}', False),
        (b'{"settings": {"network": {"tls_cert": "/c.pem", "tls_key": "/k.pem"}}}', True),
    ],
)
def test_tls_is_decided_from_the_saved_setting(
    paths: InstancePaths, content: bytes | None, wanted: bool
) -> None:
    """Read before asyncio is imported: it decides whether OpenSSL is kept out (0040)."""
    paths.ensure()
    if content is not None:
        with open(paths.state, "wb") as f:
            f.write(content)
    assert tls_wanted(paths) is wanted
