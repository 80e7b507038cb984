"""The commented procward.toml of an import (``procward.importers.toml_out``)."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from procward.importers import Imported, ImportedApp, Note, render


def imported(*apps: ImportedApp, notes: tuple[Note, ...] = ()) -> Imported:
    return Imported("/src/supervisord.conf", "supervisord", apps, notes)


@given(st.text(), st.text(min_size=1))
def test_any_string_and_key_reads_back_as_written(value: str, key: str) -> None:
    app = ImportedApp("a.b", {"cmd": value, "env": {key: value}, "depends_on": [value]})
    read = tomllib.loads(render(imported(app), "/out"))["apps"]["a.b"]
    assert read == {"cmd": value, "env": {key: value}, "depends_on": [value]}


@given(st.text(), st.text())
def test_any_note_and_file_name_stay_comments(text: str, name: str) -> None:
    """A control character in a comment made the file unreadable (Circus's property test
    found a key '\\x1b' in its note); a newline in a file name would end the comment."""
    note = Note(f"/src/{name}", 3, name, text)
    app = ImportedApp("web", {"cmd": "x"}, (note,), origin=f"/src/{name}:3")
    whole = Imported(f"/src/{name}", "circus", (app,), (note,))
    assert tomllib.loads(render(whole, "/out"))["apps"] == {"web": {"cmd": "x"}}


def test_notes_are_comments_at_their_app_and_paths_relative_to_the_output() -> None:
    note = Note("/out/conf.d/a.conf", 7, "minfds", "not imported")
    app = ImportedApp(
        "web", {"cmd": "x", "cwd": "/out/app", "env_file": "/elsewhere/.env"}, (note,)
    )
    text = render(
        imported(app, notes=(Note("/src/supervisord.conf", 0, "(restart)", "n"),)), "/out"
    )
    assert text.splitlines()[:4] == [
        "# Imported from /src/supervisord.conf (supervisord) by procward import.",
        "# Each '#' note is a setting that did not carry over as it was, with the file",
        "# and line it came from and what procward does instead.",
        "#   /src/supervisord.conf: (restart): n",
    ]
    assert "# conf.d/a.conf:7: minfds: not imported\n[apps.web]\n" in text
    assert tomllib.loads(text)["apps"]["web"] == {
        "cmd": "x",
        "cwd": "app",
        "env_file": "/elsewhere/.env",
    }


def test_long_notes_are_wrapped_as_comments() -> None:
    note = Note("/out/a.conf", 7, "k", "word " * 60)
    text = render(imported(ImportedApp("web", {"cmd": "x"}, (note,))), "/out")
    comments = [
        line for line in text.splitlines() if line.startswith("# a.conf") or line.startswith("#   ")
    ]
    assert len(comments) > 2 and all(len(line) <= 100 for line in comments)
    assert tomllib.loads(text)["apps"]["web"] == {"cmd": "x"}
