"""PM2's files into procward apps: ecosystem files, JSON, YAML, ``pm2 jlist`` and dumps.

An ``ecosystem.config.js`` (``.cjs``, ``.mjs``) is code, so node evaluates it
(``pm2node.py``); JSON is read as JSON, and as PM2 reads it, a JavaScript
expression, when it is not strict; YAML with PyYAML's safe loader, imported
only here. ``apps`` is a list or an object of name → app; a process list
(``pm2jlist``, ``dump.pm2``) is turned back into apps by ``pm2list.py``.
Each app then goes key by key through ``pm2keys.py``, and notes name the line
of each key found in the text (``pm2lines.py``).

What differs for every app is said once for the file: PM2 passed its whole
environment on, stopped apps with SIGINT and SIGKILL 1.6 s later, and
restarted them after any exit at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from procward.importers.pm2keys import Where, app_keys
from procward.importers.pm2lines import KeyLines
from procward.importers.pm2list import is_process_list, process_list_apps
from procward.importers.record import (
    CLEAN_ENVIRONMENT,
    Imported,
    ImportedApp,
    ImportRefused,
    Note,
    app_name,
    unique_name,
)
from procward.importers.source import read_source

__all__ = ["CODE_SUFFIXES", "read_pm2"]

CODE_SUFFIXES = (".js", ".cjs", ".mjs")
_STOP = (
    "PM2 stops an app with SIGINT, then SIGKILL after kill_timeout (1.6s unless set): each app "
    "keeps stop_signal = 'INT'; procward waits stop_timeout (10s unless kill_timeout was set)"
)
_RESTART = (
    "PM2 restarts an app after any exit, exit 0 too, at once: restart = 'always' (unless "
    "autorestart is false); procward waits 1s, 2s, 4s... between restarts in a row (backoff) "
    "unless restart_delay was set"
)


def read_pm2(path: str, environ: Mapping[str, str], env_name: str | None = None) -> Imported:
    text = read_source(path)
    config = _load(path, text, environ)
    notes: list[Note] = []
    if is_process_list(config):
        entries, texts = process_list_apps(config, environ)
        notes += [Note(path, 0, "(processes)", t) for t in texts]
        named: list[tuple[str | None, Mapping[str, object]]] = [(None, e) for e in entries]
    else:
        named = _apps(config, path)
    here = os.path.dirname(os.path.abspath(path))
    names = _names(named)
    lines = KeyLines(text, [(_pm2_name(given, entry), _script(entry)) for given, entry in named])
    deploy = config.get("deploy") if isinstance(config, Mapping) else None
    search_path = environ.get("PATH", os.defpath)
    where = Where(path, lines, env_name, _deploy_env(deploy, env_name), search_path)
    apps: list[ImportedApp] = []
    for index, ((given, entry), name) in enumerate(zip(named, names, strict=True)):
        names_of = (name, _pm2_name(given, entry))
        found = _app(where, index, names_of, entry, here=here, notes=notes)
        if found is not None:
            apps.append(found)
    notes += _file_notes(path, named, deploy, apps)
    return Imported(path, "pm2", tuple(apps), tuple(notes))


def _load(path: str, text: str, environ: Mapping[str, str]) -> object:
    from procward.importers import pm2node

    if path.endswith(CODE_SUFFIXES):
        return pm2node.evaluate(path, environ)
    if path.endswith((".yaml", ".yml")):
        return _yaml(path, text)
    try:
        return json.loads(text)
    except ValueError as e:
        strict = f"{path} is not strict JSON ({e})"
    try:  # PM2 reads a .json file as a JavaScript expression: comments, trailing commas
        return pm2node.evaluate(path, environ, expression=True)
    except ImportRefused as e:
        raise ImportRefused(f"{strict}; {e}") from None


def _yaml(path: str, text: str) -> object:
    import yaml  # only for PM2's YAML files: decision 0043

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e)
        raise ImportRefused(f"{where}: not YAML that can be read ({problem})") from None


def _apps(config: object, path: str) -> list[tuple[str | None, Mapping[str, object]]]:
    """(the name ``apps`` gives as an object key, the app), in the file's order."""
    if isinstance(config, Mapping) and "apps" not in config and _looks_like_app(config):
        return [(None, config)]  # one app, as PM2 also takes it
    entries = config.get("apps") if isinstance(config, Mapping) else config
    if isinstance(entries, Mapping) and _looks_like_app(entries):
        return [(None, entries)]
    if isinstance(entries, Mapping):
        return [(str(k), v) for k, v in entries.items() if isinstance(v, Mapping)]
    if isinstance(entries, list):
        return [(None, e) for e in entries if isinstance(e, Mapping)]
    raise ImportRefused(f"{path}: no 'apps' in it, nor a list of apps (PM2's forms)")


def _looks_like_app(entry: Mapping[str, object]) -> bool:
    return any(key in entry for key in ("script", "cmd", "command", "exec"))


def _names(named: list[tuple[str | None, Mapping[str, object]]]) -> list[str]:
    """procward's name for each app (``app_name`` of PM2's), made unique by a number."""
    names: list[str] = []
    for given, entry in named:
        names.append(unique_name(app_name(_pm2_name(given, entry)), names))
    return names


def _pm2_name(given: str | None, entry: Mapping[str, object]) -> str:
    """``name``, the object key, or the script's name without extension (PM2's default)."""
    script = _script(entry)
    return str(entry.get("name") or given or os.path.splitext(os.path.basename(script))[0])


def _script(entry: Mapping[str, object]) -> str:
    return next((str(entry[k]) for k in ("script", "exec", "cmd", "command") if entry.get(k)), "")


def _app(
    where: Where,
    index: int,
    names: tuple[str, str],
    entry: Mapping[str, object],
    *,
    here: str,
    notes: list[Note],
) -> ImportedApp | None:
    """The app, or ``None`` (and a note) without a script; ``names``: procward's and PM2's."""
    line = where.lines.anchors[index] or 0
    name, raw = names
    if raw and raw != name:
        notes.append(Note(where.file, line, raw, f"imported as {name!r}"))
    cwd = entry.get("cwd")
    full = os.path.normpath(os.path.join(here, os.path.expanduser(str(cwd)))) if cwd else here
    app = app_keys(where, index, name, entry, full)
    if not app.keys["cmd"]:
        notes.append(Note(where.file, line, name, "has no script: not imported"))
        return None
    return app


def _deploy_env(deploy: object, env_name: str | None) -> object:
    """``deploy.<env_name>.env``, which PM2 puts under the app's env with ``--env``."""
    target = deploy.get(env_name) if isinstance(deploy, Mapping) and env_name else None
    return target.get("env") if isinstance(target, Mapping) else None


def _file_notes(
    path: str,
    named: list[tuple[str | None, Mapping[str, object]]],
    deploy: object,
    apps: list[ImportedApp],
) -> list[Note]:
    notes = []
    if deploy:
        notes.append(Note(path, 0, "deploy", "not imported: procward does not deploy"))
    if any("cwd" not in entry for _, entry in named):
        notes.append(
            Note(
                path,
                0,
                "cwd",
                "apps without a cwd run in the file's directory (PM2 used the directory "
                "pm2 start ran in)",
            )
        )
    if apps:
        notes += [
            Note(path, 0, "(environment)", CLEAN_ENVIRONMENT.format(who="PM2")),
            Note(path, 0, "(stop)", _STOP),
            Note(path, 0, "(restart)", _RESTART),
        ]
    return notes
