"""A small declarative command-line parser, because argparse costs too much here.

A daemon's command (``procward ping``) is judged on start-up time, and argparse
(with ``gettext``, ``locale`` and, for help formatting, ``shutil``) costs more
than the round trip to the daemon; the daemon's own entry pays it on every
start (decision 0005). This parser covers what such commands need and no more:
global options before the command; per command, flags, valued options
(``-n 100``, ``-n100``, ``--lines 100``, ``--lines=100``), positionals
(required, optional, variadic) and ``--`` to pass the rest through untouched;
``-h``/``--help`` anywhere; errors that name the command and the fix. A
program without commands (a daemon's entry) uses ``parse_options``.

The values come back as a typed record: a command declares an ``Arguments``
subclass with one annotation per option and argument, and mypy checks each
use of them. It imports only ``sys`` (``difflib`` on the error path).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    A = TypeVar("A", bound="Arguments")


class UsageError(Exception):
    """A command line that does not parse; ``str()`` says why, for people.

    For a program that words its errors its own way: ``word`` is the word of
    argv at fault and ``kind`` what is wrong with it: ``"unknown"`` (an
    option that does not exist, or a flag given a value), ``"unexpected"``
    (a word no argument takes), ``"missing"`` (an option's value or a
    required argument), ``"invalid"`` (a value that does not convert).
    ``option`` and ``value`` name the option and its raw value.
    """

    def __init__(
        self,
        message: str,
        command: Command | None = None,
        *,
        kind: str = "",
        word: str = "",
        option: str = "",
        value: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.kind = kind
        self.word = word
        self.option = option
        self.value = value


class Option:
    __slots__ = ("choices", "default", "dest", "help", "metavar", "names", "repeat", "type")

    def __init__(
        self,
        *names: str,
        help: str,
        type: Callable[[str], Any] | None = None,
        default: Any = None,
        metavar: str | None = None,
        choices: Sequence[str] | None = None,
        repeat: bool = False,  # may be given several times: a list of values
        dest: str | None = None,
    ) -> None:
        self.names = names
        self.repeat = repeat
        self.dest = dest or names[-1].lstrip("-").replace("-", "_")
        self.help = help
        self.type = type
        self.default = False if type is None and default is None else default
        if repeat:
            self.default = []
        self.metavar = metavar or self.dest.upper()
        self.choices = choices

    @property
    def takes_value(self) -> bool:
        return self.type is not None

    def label(self) -> str:
        names = ", ".join(self.names)
        return f"{names} {self.metavar}" if self.takes_value else names


class Arg:
    """A positional argument; ``many`` collects the rest (after ``--`` too)."""

    __slots__ = ("choices", "complete", "default", "dest", "help", "many", "optional", "type")

    def __init__(
        self,
        dest: str,
        *,
        help: str,
        type: Callable[[str], Any] = str,
        optional: bool = False,
        many: bool = False,
        default: Any = None,
        choices: Sequence[str] | None = None,
        complete: str | None = None,
    ) -> None:
        self.dest = dest
        self.help = help
        # Where a shell completion finds its values at run time ("apps": the running
        # daemon's app names); see ``procward.kit._completion``.
        self.complete = complete
        self.type = type
        self.optional = optional or many
        self.many = many
        self.default = [] if many and default is None else default
        self.choices = choices

    def label(self) -> str:
        name = self.dest.upper()
        if self.many:
            return f"[{name} ...]"
        return f"[{name}]" if self.optional else name


class Arguments:
    """Parsed values as attributes, like argparse's Namespace, but typed.

    A command declares its own subclass, one annotation per option and
    argument (``name: str | None``), and its function takes that class:
    mypy then checks every use of an argument in the function, and
    ``tests/cli/test_args.py`` checks that the annotations are exactly what
    the parser sets. Annotations only, no values: the parser sets them all.
    """

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"{type(self).__name__}({shown})"


class Command:
    """A command: its name, its function, its options and arguments, and their record.

    ``record`` is the ``Arguments`` subclass the parser builds for it; ``func``
    must take one (mypy checks that they agree). ``func`` may instead name the
    function, ``"package.module:function"`` as in an entry point, for a program
    whose commands live in modules it should not import to run just one of
    them: the module is imported when the command runs (or ``func`` is read).
    mypy cannot check a name; a test that reads each ``func`` can.
    """

    __slots__ = ("_func", "aliases", "args", "help", "hidden", "name", "options", "record")

    def __init__(
        self,
        name: str,
        func: Callable[[A, Any], int] | str,
        help: str,
        options: Sequence[Option] = (),
        args: Sequence[Arg] = (),
        *,
        record: type[A] | None = None,
        hidden: bool = False,  # for programs (shell completions), not in help nor completed
        aliases: Sequence[str] = (),  # other names people type by habit (`ls` for `status`)
    ) -> None:
        self.hidden = hidden
        self.aliases = tuple(aliases)
        self.name = name
        self._func: Callable[[Any, Any], int] | str = func
        self.help = help
        self.options = list(options)
        self.args = list(args)
        self.record: type[Arguments] = record or Arguments

    @property
    def func(self) -> Callable[[Any, Any], int]:
        func = self._func
        if isinstance(func, str):
            module, _, name = func.partition(":")
            # `__import__`, not `importlib`: one module fewer on a CLI's start-up path.
            func = self._func = getattr(__import__(module, fromlist=[name]), name)
        return func


class Parser:
    """Global ``options``, then one of ``commands``; or, with no commands, options alone.

    ``help_text``, when given, is what ``--help`` prints instead of the help
    made from the options.
    """

    def __init__(
        self,
        prog: str,
        description: str,
        options: Sequence[Option],
        commands: Sequence[Command] = (),
        *,
        help_text: str | None = None,
    ) -> None:
        self.prog = prog
        self.description = description
        self.options = list(options)
        self.commands = {c.name: c for c in commands}
        self.aliases = {alias: c for c in commands for alias in c.aliases}
        self.help_text = help_text

    def parse_options(self, argv: Sequence[str], record: type[A]) -> A:
        """A program without commands: ``argv`` holds only the global options."""
        values: dict[str, Any] = {o.dest: o.default for o in self.options}
        words = self._options(list(argv), self.options, values, None, stop_at_word=False)
        if words:
            word = words[0]
            raise UsageError(f"unexpected argument {word!r}", kind="unexpected", word=word)
        return record(**values)

    def parse(self, argv: Sequence[str]) -> tuple[Command, Arguments]:
        values: dict[str, Any] = {o.dest: o.default for o in self.options}
        rest = self._options(list(argv), self.options, values, None, stop_at_word=True)
        if not rest:
            raise UsageError("a command is required (try: procward --help)")
        name, rest = rest[0], rest[1:]
        command = self.commands.get(name) or self.aliases.get(name)
        if command is None:
            known = [*self.commands, *self.aliases]
            raise UsageError(f"unknown command {name!r}{_suggest(name, known)}")
        for option in command.options:  # a global --json stays set
            values.setdefault(option.dest, option.default)
        values.update({a.dest: a.default for a in command.args})
        words = self._options(rest, command.options, values, command, stop_at_word=False)
        self._positionals(words, command, values)
        return command, command.record(**values)

    def _options(  # noqa: PLR0912 - one loop over argv, one branch per kind of word
        self,
        argv: list[str],
        options: list[Option],
        values: dict[str, Any],
        command: Command | None,
        stop_at_word: bool,
    ) -> list[str]:
        """Consume options from ``argv``; return the words left, in order."""
        words: list[str] = []
        by_name = {name: o for o in options for name in o.names}
        i = 0
        while i < len(argv):
            word = argv[i]
            i += 1
            if word == "--":
                return [*words, "--", *argv[i:]] if command else argv[i:]
            if word in ("-h", "--help"):
                self.print_help(command)
                raise SystemExit(0)
            if command is None and word == "--version" and "--version" in by_name:
                raise UsageError("--version")  # main() prints it
            if not word.startswith("-") or word == "-" or _is_number(word):
                if stop_at_word:
                    return [word, *argv[i:]]
                words.append(word)
                continue
            name, _, inline = (
                word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
            )
            option = by_name.get(name)
            if option is None:
                where = f" for '{command.name}'" if command else ""
                raise UsageError(
                    f"unknown option {name}{where}", command, kind="unknown", word=word, option=name
                )
            if not option.takes_value:
                if inline:
                    raise UsageError(
                        f"{name} takes no value", command, kind="unknown", word=word, option=name
                    )
                values[option.dest] = True
                continue
            if not inline:
                if i >= len(argv):
                    raise UsageError(
                        f"{name} needs a value ({option.metavar})",
                        command,
                        kind="missing",
                        word=word,
                        option=name,
                    )
                inline, i = argv[i], i + 1
            value = _convert(option, name, inline, command)
            if option.repeat:
                values[option.dest] = [*values[option.dest], value]
            else:
                values[option.dest] = value
        return words

    def _positionals(self, words: list[str], command: Command, values: dict[str, Any]) -> None:
        if "--" in words:
            cut = words.index("--")
            words, passthrough = words[:cut], words[cut + 1 :]
        else:
            passthrough = []
        for arg in command.args:
            if arg.many:
                values[arg.dest] = [_convert(arg, arg.dest, w, command) for w in words]
                values[arg.dest] += passthrough
                words, passthrough = [], []
            elif words:
                values[arg.dest] = _convert(arg, arg.dest, words.pop(0), command)
            elif not arg.optional:
                raise UsageError(f"missing {arg.dest.upper()}", command, kind="missing")
        if words or passthrough:
            extra = " ".join(words + passthrough)
            raise UsageError(
                f"unexpected argument {extra!r}", command, kind="unexpected", word=extra
            )

    # -- help ------------------------------------------------------------------

    def usage(self, command: Command | None) -> str:
        if command is None:
            return f"usage: {self.prog} [OPTIONS] COMMAND [ARGS]"
        parts = [f"[{o.label()}]" for o in command.options] + [a.label() for a in command.args]
        return f"usage: {self.prog} {command.name} " + " ".join(parts)

    def print_help(self, command: Command | None) -> None:
        if self.help_text is not None:
            sys.stdout.write(self.help_text)
            return
        out = [self.usage(command), ""]
        if command is None:
            out += [self.description, "", "options:"]
            out += _rows([(o.label(), o.help) for o in self.options])
            out += ["", "commands:"]
            out += _rows(
                [
                    (", ".join((c.name, *c.aliases)), c.help)
                    for c in self.commands.values()
                    if not c.hidden
                ]
            )
            out += ["", f"{self.prog} COMMAND --help shows a command's options."]
        else:
            out += [command.help]
            if command.aliases:
                out += [f"(also: {', '.join(f'{self.prog} {a}' for a in command.aliases)})"]
            if command.args:
                out += ["", "arguments:", *_rows([(a.dest.upper(), a.help) for a in command.args])]
            rows = [(o.label(), o.help) for o in command.options]
            out += ["", "options:", *_rows([*rows, ("-h, --help", "show this help")])]
        sys.stdout.write("\n".join(out) + "\n")


def seconds(raw: str) -> float:
    """An option's value in seconds: a number, not negative (``--timeout 2.5``)."""
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(left) for left, _ in rows), default=0)
    return [f"  {left:<{width}}  {text}" for left, text in rows]


def _convert(spec: Option | Arg, name: str, raw: str, command: Command | None) -> Any:
    if spec.choices is not None and raw not in spec.choices:
        raise UsageError(
            f"{name} must be one of {', '.join(spec.choices)} (got {raw!r})",
            command,
            kind="invalid",
            word=raw,
            option=name,
            value=raw,
        )
    convert = spec.type or str
    try:
        return convert(raw)
    except ValueError:
        kind = getattr(convert, "__name__", "value")
        raise UsageError(
            f"{name}: expected {kind}, got {raw!r}",
            command,
            kind="invalid",
            word=raw,
            option=name,
            value=raw,
        ) from None


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _suggest(name: str, known: list[str]) -> str:
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
