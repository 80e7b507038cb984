"""supervisord's INI dialect (``procward.importers.inifile``), on the quirks of real files."""

from __future__ import annotations

import configparser

import pytest

from procward.importers.inifile import read_ini


def entries(text: str, section: str) -> dict[str, tuple[str, int]]:
    found = {s.name: s for s in read_ini(text, "f.conf")}[section]
    return {k: (e.value, e.line) for k, e in found.entries.items()}


def test_a_semicolon_or_hash_after_whitespace_starts_a_comment_anywhere() -> None:
    text = "[program:a]\ncommand=run -x ; the server\nurl=http://h/a;b#c\nb = 1 # one\n"
    assert entries(text, "program:a") == {
        "command": ("run -x", 2),
        "url": ("http://h/a;b#c", 3),
        "b": ("1", 4),
    }


def test_whole_sections_commented_out_are_not_read() -> None:
    text = "[program:a]\ncommand=x\n;[program:b]\n;command=y\n#[program:c]\n#command=z\n"
    assert [s.name for s in read_ini(text, "f")] == ["", "program:a"]


def test_tab_indented_lines_continue_the_value_above() -> None:
    text = "[program:a]\ncommand=run\n\t--port 1\n    --workers 2\nnext=1\n"
    assert entries(text, "program:a")["command"] == ("run\n--port 1\n--workers 2", 2)


def test_crlf_trailing_spaces_after_headers_and_no_final_newline() -> None:
    text = "[program:a]   \r\ncommand = run   \r\nAutoStart: false"
    assert entries(text, "program:a") == {"command": ("run", 2), "autostart": ("false", 3)}


def test_a_key_set_twice_keeps_the_last_and_records_the_first() -> None:
    [_, section] = read_ini("[program:a]\nx=1\nx=2\nnot a pair\n", "f")
    assert section.entries["x"].value == "2"
    assert section.repeated == [("x", 2)]
    assert section.stray == [4]


@pytest.mark.parametrize(
    "text",
    [
        "[program:a]\ncommand=run -x ; c\n",
        "[program:a]\ncommand = a;b #c\n\t d\n",
        "[program:a]   \ncommand=x\n;[program:b]\nkey: v # c\n",
    ],
)
def test_it_reads_what_supervisords_configparser_reads(text: str) -> None:
    """supervisord 4: RawConfigParser(inline_comment_prefixes=(';', '#'), strict=False)."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    ours = {s.name: {k: e.value for k, e in s.entries.items()} for s in read_ini(text, "f")}
    assert {name: dict(parser[name]) for name in parser.sections()} == {
        name: values for name, values in ours.items() if name
    }
