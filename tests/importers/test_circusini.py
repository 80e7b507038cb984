"""Circus's INI dialect (``procward.importers.circusini``), pinned on circusd's own reader.

Each rule is circus 0.19's ``StrictConfigParser._read`` (``circus/util.py``),
where it differs from supervisord's ``configparser`` (``test_inifile.py``).
"""

from __future__ import annotations

from procward.importers.circusini import read_circus_ini


def entries(text: str, section: str) -> dict[str, tuple[str, int]]:
    found = {s.name: s for s in read_circus_ini(text, "circus.ini")}[section]
    return {k: (e.value, e.line) for k, e in found.entries.items()}


def test_only_the_first_semicolon_after_whitespace_starts_a_comment() -> None:
    text = "[watcher:a]\ncmd = run -x ; the server\nurl = a;b ; c\nb = 1 # one\nc = x;y\n"
    assert entries(text, "watcher:a") == {
        "cmd": ("run -x", 2),
        "url": ("a;b ; c", 3),  # the first ';' has no space before it: no comment at all
        "b": ("1 # one", 4),  # '#' never starts an inline comment
        "c": ("x;y", 5),
    }


def test_comments_are_lines_starting_with_a_semicolon_hash_or_rem() -> None:
    text = "\n\n# top\n;[watcher:b]\n[watcher:a]\nrem old\nREM older\ncmd = x\n"
    assert [s.name for s in read_circus_ini(text, "f")] == ["", "watcher:a"]
    assert entries(text, "watcher:a") == {"cmd": ("x", 8)}


def test_any_indented_line_continues_the_value_even_a_comment() -> None:
    text = "[watcher:a]\nargs = --a\n  --b ; kept\n    # kept too\n\n\t--c\nnext = 1\n"
    assert entries(text, "watcher:a")["args"] == ("--a\n--b ; kept\n# kept too\n--c", 2)


def test_the_first_value_of_a_key_counts_and_keys_keep_their_case() -> None:
    text = "[env:a]\nPATH = /one\nPath = /two\nPATH = /three\n  more\n"
    [_, section] = read_circus_ini(text, "f")
    assert {k: e.value for k, e in section.entries.items()} == {
        "PATH": "/one\nmore",  # a repeated key's continuation joins the first value
        "Path": "/two",
    }
    assert section.repeated == [("PATH", 4)]


def test_a_repeated_section_is_merged_into_the_first() -> None:
    text = "[watcher:a]\ncmd = x\n[env]\nA = 1\n[watcher:a]\ncmd = y\nargs = z\n"
    sections = {s.name: s for s in read_circus_ini(text, "f")}
    assert {k: e.value for k, e in sections["watcher:a"].entries.items()} == {
        "cmd": "x",
        "args": "z",
    }


def test_headers_are_not_stripped_and_empty_quotes_are_empty() -> None:
    text = '[ watcher:a ]\ncmd = x\n[watcher:b]  ; note\nargs = ""\nempty =\n'
    assert [s.name for s in read_circus_ini(text, "f")] == ["", " watcher:a ", "watcher:b"]
    assert entries(text, "watcher:b") == {"args": ("", 4), "empty": ("", 5)}


def test_lines_that_are_not_pairs_and_keys_before_any_section_are_kept_aside() -> None:
    text = "loose = 1\n[watcher:a]\ncmd = x\nnot a pair\n  --still-cmd\n"
    [top, section] = read_circus_ini(text, "f")
    assert top.entries["loose"].value == "1"
    assert section.stray == [4]
    assert section.entries["cmd"].value == "x\n--still-cmd"  # circusd's reader does the same


def test_percent_is_not_interpolated() -> None:
    """``RawConfigParser``: no ``%(x)s``; Circus's ``$(circus.x)`` is the importer's."""
    assert entries("[env]\nA = 100% of %(x)s\n", "env") == {"A": ("100% of %(x)s", 2)}
