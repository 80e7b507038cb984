"""A command string: run by a shell when it has shell syntax, split otherwise (issue 10, 14)."""

from __future__ import annotations

import pytest

from procward.supervision.cmdline import to_argv
from procward.supervision.spec import expand_arg

ENV = {"HOME": "/home/me", "PORT": "8001"}


def runs_as(text: str, index: int = 0) -> list[str]:
    """The argv of ``text`` once procward has expanded it for instance ``index``."""
    return [expand_arg(arg, index, ENV) for arg in to_argv(text)]


@pytest.mark.parametrize(
    "text",
    [
        "echo hi; exit 7",
        "make && ./run",
        "a || b",
        "gen | gzip > out.gz",
        "server 2>&1",
        "sleep 1 &",
        "echo $(date)",
        'echo "now: $(date)"',
        "echo `date`",
        "ls *.txt",
        "cat file?",
        "PORT=80 node app.js",
        "cd ~/app",
        "(cd x; make)",
    ],
)
def test_shell_syntax_is_run_by_the_shell_as_written(text: str) -> None:
    assert runs_as(text) == ["/bin/sh", "-c", text]


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("python3 -m http.server $PORT", ["python3", "-m", "http.server", "8001"]),
        ('node app.js --name "a b" ${PORT}', ["node", "app.js", "--name", "a b", "8001"]),
        ("echo 'a;b' \"c|d\" 'x*'", ["echo", "a;b", "c|d", "x*"]),
        ("node app.js --flag=1", ["node", "app.js", "--flag=1"]),
        ("echo '$HOME' \"$HOME\" $HOME", ["echo", "$HOME", "/home/me", "/home/me"]),
        ('echo \\$HOME "\\$HOME"', ["echo", "$HOME", "$HOME"]),
        ("sh -c 'X=1; echo $X'", ["sh", "-c", "X=1; echo $X"]),
        ("sh -c 'echo $$'", ["sh", "-c", "echo $$"]),
        ("worker --id {instance}", ["worker", "--id", "3"]),
    ],
)
def test_other_strings_are_split_and_expanded_outside_single_quotes(
    text: str, argv: list[str]
) -> None:
    assert runs_as(text, index=3) == argv


def test_only_instance_is_expanded_in_a_shell_command() -> None:
    text = "awk '{if ($1) {print}}' data.{instance}; echo ${PORT} $$ {{x}}"
    assert runs_as(text, index=2) == [
        "/bin/sh",
        "-c",
        "awk '{if ($1) {print}}' data.2; echo ${PORT} $$ {{x}}",
    ]


def test_an_unbalanced_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="No closing quotation"):
        to_argv("echo 'oops")
