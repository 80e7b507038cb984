"""The CLI's argument parser, without processes."""

from __future__ import annotations

import types
import typing

import pytest

from procward.cli.args import Arg, Command, Option, Parser, UsageError
from procward.cli.main import PARSER as PROCWARD


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


def declared(record: type) -> set[str]:
    """The argument names a record class declares, its bases' included."""
    return {name for cls in record.__mro__ for name in vars(cls).get("__annotations__", {})}


@pytest.mark.parametrize("command", list(PROCWARD.commands.values()), ids=lambda c: c.name)
def test_each_commands_record_declares_exactly_what_its_parser_sets(command: Command) -> None:
    """mypy checks a command's use of its record; this checks the record against the parser."""
    sets = {o.dest for o in [*PROCWARD.options, *command.options]} | {a.dest for a in command.args}
    assert declared(command.record) == sets
    hints = typing.get_type_hints(command.func)
    assert hints["args"] is command.record, f"{command.func.__name__} takes {hints['args']}"


@pytest.mark.parametrize("command", list(PROCWARD.commands.values()), ids=lambda c: c.name)
def test_each_commands_defaults_fit_its_record(command: Command) -> None:
    """What a command gets when given nothing fits the types its record declares."""
    required = [a for a in command.args if not a.optional]
    argv = [command.name, *("1" if a.type is int else "x" for a in required)]
    if command.name == "token":
        argv = ["token", "list"]
    _, args = PROCWARD.parse(argv)
    hints = typing.get_type_hints(command.record)
    for name, value in vars(args).items():
        assert isinstance(value, _runtime(hints[name])), f"{name}={value!r}: not {hints[name]}"


def _runtime(hint: object) -> tuple[type, ...]:
    """The classes ``isinstance`` checks for an annotation: ``str | None``, ``list[str]``..."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return tuple(t for arg in args for t in _runtime(arg))
    origin = typing.get_origin(hint)
    return (origin if isinstance(origin, type) else hint,)  # type: ignore[return-value]
