"""procward's command table (``procward.cli.main.PARSER``) and each command's typed record."""

from __future__ import annotations

import types
import typing

import pytest

from procward.cli.main import PARSER as PROCWARD
from procward.kit._argv import Arg, Command


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
    argv = [command.name, *(_given(a) for a in required)]
    _, args = PROCWARD.parse(argv)
    hints = typing.get_type_hints(command.record)
    for name, value in vars(args).items():
        assert isinstance(value, _runtime(hints[name])), f"{name}={value!r}: not {hints[name]}"


def _given(arg: Arg) -> str:
    """A word the parser takes for a required argument: its first choice, if it has any."""
    if arg.choices:
        return arg.choices[0]
    return "1" if arg.type is int else "x"


def _runtime(hint: object) -> tuple[type, ...]:
    """The classes ``isinstance`` checks for an annotation: ``str | None``, ``list[str]``..."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return tuple(t for arg in args for t in _runtime(arg))
    origin = typing.get_origin(hint)
    return (origin if isinstance(origin, type) else hint,)  # type: ignore[return-value]
