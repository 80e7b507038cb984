"""The kit's argv parser (``procward.kit._argv``), without processes."""

from __future__ import annotations

import pytest

from procward.kit._argv import Arg, Arguments, Command, Option, Parser, UsageError, seconds


def run(args: object) -> int:
    return 0


PARSER = Parser(
    "pw",
    "test parser",
    options=[Option("-i", "--instance", type=str, help="i"), Option("--json", help="j")],
    commands=[
        Command(
            "logs",
            run,
            "show logs",
            [
                Option("-n", "--lines", type=int, default=100, help="n"),
                Option("-f", "--follow", help="f"),
                Option("--json", help="j"),
                Option("--stream", type=str, choices=["out", "err"], help="s"),
            ],
            [Arg("name", help="app", optional=True)],
        ),
        Command(
            "start",
            run,
            "start",
            [Option("--name", type=str, help="name")],
            [Arg("cmd", help="command", many=True)],
        ),
        Command("scale", run, "scale", [], [Arg("name", help="a"), Arg("n", help="b", type=int)]),
    ],
)


def parse(*argv: str) -> dict[str, object]:
    command, ns = PARSER.parse(list(argv))
    return {"command": command.name, **vars(ns)}


def test_defaults_and_values() -> None:
    got = parse("logs")
    assert got["lines"] == 100 and got["follow"] is False and got["name"] is None
    assert got["instance"] is None and got["json"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["logs", "-n", "5", "web"],
        ["logs", "-n5", "web"],
        ["logs", "--lines", "5", "web"],
        ["logs", "web", "--lines=5"],
    ],
)
def test_value_spellings(argv: list[str]) -> None:
    got = parse(*argv)
    assert got["lines"] == 5 and got["name"] == "web"


def test_global_options_before_the_command_survive_command_defaults() -> None:
    got = parse("-i", "x", "--json", "logs")
    assert got["instance"] == "x" and got["json"] is True


def test_double_dash_passes_the_rest_through() -> None:
    got = parse("start", "--name", "web", "--", "python", "-m", "http.server", "--bind", "x")
    assert got["name"] == "web"
    assert got["cmd"] == ["python", "-m", "http.server", "--bind", "x"]


def test_negative_numbers_are_words() -> None:
    assert parse("scale", "web", "-1")["n"] == -1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a command is required"),
        (["lgos"], "did you mean 'logs'"),
        (["nothing-like-it"], "known: logs, start, scale"),
        (["logs", "--bogus"], "unknown option --bogus for 'logs'"),
        (["logs", "-n"], "-n needs a value"),
        (["logs", "-n", "many"], "-n: expected int, got 'many'"),
        (["logs", "--follow=yes"], "--follow takes no value"),
        (["logs", "--stream", "both"], "--stream must be one of out, err"),
        (["scale", "web"], "missing N"),
        (["scale", "web", "2", "3"], "unexpected argument '3'"),
        (["logs", "a", "b"], "unexpected argument 'b'"),
    ],
)
def test_errors_say_what_is_wrong(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        PARSER.parse(argv)


def test_help_exits_zero_and_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        PARSER.parse(["logs", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pw logs" in out and "-n, --lines LINES" in out and "-h, --help" in out


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        PARSER.parse(["-h"])
    out = capsys.readouterr().out
    assert "commands:" in out and "scale" in out


class Entry(Arguments):
    home: str | None
    detached: bool
    wait: float | None


ENTRY = Parser(
    "entry",
    "a daemon's entry: options, no commands",
    [
        Option("--home", type=str, help="h"),
        Option("--detached", help="d"),
        Option("--wait", type=seconds, help="w"),
    ],
    help_text="usage: entry [--home DIR] [--detached] [--wait SECONDS]\n",
)


def test_options_alone_make_the_record() -> None:
    got = ENTRY.parse_options(["--home=/srv", "--wait", "2.5", "--detached"], Entry)
    assert isinstance(got, Entry)
    assert (got.home, got.detached, got.wait) == ("/srv", True, 2.5)
    assert vars(ENTRY.parse_options([], Entry)) == {"home": None, "detached": False, "wait": None}


@pytest.mark.parametrize(
    ("argv", "kind", "word", "option", "value"),
    [
        (["--bogus"], "unknown", "--bogus", "--bogus", ""),
        (["--detached=yes"], "unknown", "--detached=yes", "--detached", ""),
        (["web"], "unexpected", "web", "", ""),
        (["--", "web"], "unexpected", "web", "", ""),
        (["--home"], "missing", "--home", "--home", ""),
        (["--wait", "soon"], "invalid", "soon", "--wait", "soon"),
        (["--wait=-1"], "invalid", "-1", "--wait", "-1"),
        (["--version"], "unknown", "--version", "--version", ""),  # not an option here
    ],
)
def test_errors_name_the_word_for_programs_that_word_them_their_way(
    argv: list[str], kind: str, word: str, option: str, value: str
) -> None:
    with pytest.raises(UsageError) as raised:
        ENTRY.parse_options(argv, Entry)
    exc = raised.value
    assert (exc.kind, exc.word, exc.option, exc.value) == (kind, word, option, value)


def test_help_text_is_printed_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ENTRY.parse_options(["-h"], Entry)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "usage: entry [--home DIR] [--detached] [--wait SECONDS]\n"
