"""What the CLI prints from daemon replies, without a daemon."""

from __future__ import annotations

import json
import shlex

import pytest

from procward.cli import render
from procward.reports import AuditView, Inspection, LogEntry


def test_json_lines_of_a_json_app_are_its_own_objects(capsys: pytest.CaptureFixture[str]) -> None:
    own = '{"time": 1.5, "app": "api", "instance": 0, "stream": "out", "line": "hi"}'
    printer = render.LogPrinter(prefix=False, as_json=True)
    where = {"app": "api", "instance": 0, "stream": "out", "format": "json"}
    lines = [own, "not json, from before the format changed"]
    printer.lines(LogEntry.from_dict({**where, "lines": lines}))
    printer.chunk({**where, "data": own + "\n"})  # followed
    printer.lines(LogEntry(app="web", instance=1, stream="err", lines=['{"a": 1}']))
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        json.loads(own),
        {
            "app": "api",
            "instance": 0,
            "stream": "out",
            "line": "not json, from before the format changed",
        },
        json.loads(own),
        {"app": "web", "instance": 1, "stream": "err", "line": '{"a": 1}'},
    ]


def test_a_note_on_a_log_is_said_once_per_app(capsys: pytest.CaptureFixture[str]) -> None:
    printer = render.LogPrinter(prefix=True, as_json=False)
    for stream in ("out", "err"):
        printer.lines(LogEntry(app="p", instance=0, stream=stream, lines=[], note="skipped"))
    assert capsys.readouterr() == ("", "p: skipped\n")


def test_inspect_shows_a_command_that_can_be_pasted_into_a_shell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sh", "-c", "echo 'a b' \"$HOME\"; exec sleep 1000", "it's"]
    render.inspection(
        Inspection.from_dict(
            {
                "name": "svc",
                "spec": {"cmd": argv, "restart": "on-failure", "reload": "rolling"},
                "source": "cli",
                "desired": "running",
                "healthy": True,
                "depends_on": [],
                "error": None,
                "instances": [],
                "usage": [],
                "health": {
                    "name": "svc",
                    "ready": None,
                    "health": None,
                    "healthy": True,
                    "instances": [],
                },
                "held": False,
                "watch": None,
                "logs": [],
            }
        )
    )
    [command] = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("command:")
    ]
    assert shlex.split(command.removeprefix("command:")) == argv


def test_folded_refusals_show_their_count(capsys: pytest.CaptureFixture[str]) -> None:
    entry = {
        "time": 1_700_000_000.0,
        "transport": "tcp",
        "who": "127.0.0.1",
        "role": "anonymous",
        "method": "status",
        "outcome": "refused",
        "error": "status needs the viewer role",
    }
    folded = {**entry, "count": 250, "until": 1_700_000_059.0}
    render.audit_table([AuditView.from_dict(entry), AuditView.from_dict(folded)])
    lines = capsys.readouterr().out.splitlines()
    assert "x250" not in lines[1]
    assert "refused x250 (until " in lines[2]
