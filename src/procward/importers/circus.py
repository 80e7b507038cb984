"""``circus.ini`` into procward apps, one per ``[watcher:x]``.

Read as circusd 0.19 reads it (``circus/config.py``, ``circusini.py`` for
the INI dialect); each watcher's keys are ``circuskeys.py``'s. What the
whole file decides:

- **Environment.** A bare ``[env]`` is for every watcher (and for
  ``$(circus.env.x)`` anywhere); ``[env:a,b]`` for the watchers named, as
  ``fnmatch`` patterns (``[env:web*]``), applied in file order over
  ``[env]``. circusd replaces ``$NAME`` (capitals) in those values from its
  own environment, at start; the import does it from its own, with a note.
  Without ``copy_env`` circusd gives a watcher nothing but those sections;
  procward adds its clean base (PATH, HOME...); ``copy_env`` becomes
  ``inherit_env = true``.
- **Sockets.** ``[socket:x]`` (``host``/``port``, ``path``, ``family``)
  becomes procward's ``sockets`` of the app whose command names it:
  procward holds a socket for one app.
- **Order.** circusd starts watchers by ``priority``, the highest first,
  and stops them the other way: ``supervisord.start_order`` on negated
  priorities writes the same tiers as ``depends_on``.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from procward.importers import circuskeys
from procward.importers.circusini import read_circus_ini
from procward.importers.expansions import to_procward
from procward.importers.inifile import Entry, Section
from procward.importers.record import Imported, ImportedApp, Note, app_name, unique_name
from procward.importers.source import read_source
from procward.importers.supervisord import start_order

__all__ = ["read_circus"]

_DOLLAR = re.compile(r"\$([A-Z]+[A-Z0-9_]*)")  # circus.util.parse_env_dict
_ENV_IN_ENV = re.compile(r"\$\(circus\.env\.([\w.-]+)\)|\(\(circus\.env\.([\w.-]+)\)\)", re.I)
_CIRCUS_IN_ENV = re.compile(r"\$\(circus\.|\(\(circus\.", re.I)
_FAMILIES = ("AF_INET", "AF_INET6", "AF_UNIX")
_CLEAN = (
    "circusd gave a watcher without copy_env only its [env] sections; procward adds a "
    "clean base (PATH, HOME, USER, LANG...): add inherit_env = true where an app relies on "
    "circusd's whole environment"
)


@dataclass(frozen=True, slots=True)
class _File:
    """What every watcher of the file is read with."""

    environ: Mapping[str, str]
    common: dict[str, str]  # the bare [env]
    envs: list[tuple[Section, re.Pattern[str]]]  # [env:patterns], each with its watchers
    sockets: dict[str, str]  # [socket:x] name, lower-cased -> procward's address


def read_circus(path: str, environ: Mapping[str, str]) -> Imported:
    file = os.path.abspath(path)
    notes: list[Note] = []
    sections = _with_includes(file, environ, notes)
    common = _common_env(sections, environ)
    envs = [(s, _watchers_of(s)) for s in sections if s.name.startswith("env:")]
    whole = _File(environ, common, envs, _sockets(sections, common, environ, notes))
    watchers = [s for s in sections if s.name.startswith("watcher:")]
    names = [w.name.split("watcher:", 1)[1] for w in watchers]
    apps: list[tuple[ImportedApp, int]] = []
    holders: dict[str, str] = {}  # socket -> the app that holds it
    taken: set[str] = set()
    for section in watchers:
        found = _watcher(section, whole, notes, taken)
        if found is not None:
            _check_shared(found[0], holders, section, notes)
            apps.append(found)
    for section in sections:
        notes.extend(_env_notes(section))
        notes.extend(_other_section(section, names, holders, whole.sockets))
    if apps:
        notes.append(Note(file, 0, "(environment)", _CLEAN))
    ordered = start_order([(app, -priority) for app, priority in apps])
    return Imported(path, "circus", tuple(ordered), tuple(notes))


def _with_includes(file: str, environ: Mapping[str, str], notes: list[Note]) -> list[Section]:
    """The sections of ``file`` and of the files its ``[circus]`` section includes.

    circusd reads ``include`` (globs) and ``include_dir`` (``*.ini`` in each)
    of the main file only, relative to it, and merges a section found again
    into the first, whose values count; here a repeated section is reported,
    so that every note names the file its line is in.
    """
    sections = {s.name: s for s in read_circus_ini(read_source(file), file)}
    daemon = sections.get("circus")
    read = [file]  # circusd reads a file twice harmlessly: its first values count
    for key in ("include", "include_dir"):
        entry = daemon.entries.get(key) if daemon else None
        for match in [] if entry is None else _included(file, key, entry, environ, notes):
            if match not in read:
                read.append(match)
                for section in read_circus_ini(read_source(match), match):
                    _add_section(sections, section, notes)
    return list(sections.values())


def _included(
    file: str, key: str, entry: Entry, environ: Mapping[str, str], notes: list[Note]
) -> list[str]:
    """The files ``include`` (globs) or ``include_dir`` (directories of ``*.ini``) name."""
    lookup = {k.lower(): v for k, v in environ.items()}
    found = []
    for pattern in _ENV_IN_ENV.sub(lambda m: _env(m, lookup), entry.value).split():
        where = os.path.join(os.path.dirname(file), pattern)
        where = os.path.join(where, "*.ini") if key == "include_dir" else where
        matches = sorted(os.path.abspath(m) for m in glob.glob(where))
        if not matches:
            notes.append(Note(file, entry.line, key, f"{where!r} matches no file: not read"))
        found += matches
    return found


def _add_section(sections: dict[str, Section], section: Section, notes: list[Note]) -> None:
    first = sections.setdefault(section.name, section)
    if first is section or not (section.entries or section.stray):
        return
    if not section.name:
        line = min([e.line for e in section.entries.values()] + section.stray)
        notes.append(
            Note(section.file, line, "(no section)", "circusd refuses keys before any section")
        )
        return
    where = (section.file, section.line, f"[{section.name}]")
    why = (
        f"also in {first.file}:{first.line}: circusd merges the two, the first value of each "
        "key counting; not imported from here"
    )
    notes.append(Note(*where, why))


def _watcher(
    section: Section, whole: _File, notes: list[Note], taken: set[str]
) -> tuple[ImportedApp, int] | None:
    original = section.name.split("watcher:", 1)[1]
    allowed = app_name(original)
    name = unique_name(allowed, taken)
    taken.add(name)
    where = (section.file, section.line, f"[{section.name}]")
    raw = whole.common | _own_env(original, whole.envs)
    lookup = {k.lower(): v for k, v in [*whole.environ.items(), *raw.items()]}
    outside = frozenset(k.lower() for k in whole.environ) - {k.lower() for k in raw}
    env = {k.strip(): _procward_env(v, whole.environ) for k, v in raw.items() if k.strip()}
    context = circuskeys.Context(lookup, outside, env, whole.sockets)
    found = circuskeys.watcher(section, name, context)
    if name != allowed:
        notes.append(Note(*where, f"imported as {name!r}: {allowed!r} is another watcher's"))
    elif name != original:
        notes.append(Note(*where, f"imported as {name!r}: procward's app names allow that"))
    if found is None:
        notes.append(Note(*where, "has no cmd: not imported"))
    elif "cmd" not in found[0].keys:
        notes.extend([Note(*where, "its command cannot be used: not imported"), *found[0].notes])
        return None
    return found


def _common_env(sections: list[Section], environ: Mapping[str, str]) -> dict[str, str]:
    """The bare ``[env]``, its ``$(circus.env.x)`` filled in from the environment."""
    lookup = {k.lower(): v for k, v in environ.items()}
    found: dict[str, str] = {}
    for section in sections:
        if section.name != "env":
            continue
        for key, entry in section.entries.items():
            found[key] = _ENV_IN_ENV.sub(lambda m: _env(m, lookup), entry.value)
    return found


def _env_notes(section: Section) -> list[Note]:
    """What an env section's values take from outside the file, or keep unexpanded."""
    if section.name != "env" and not section.name.startswith("env:"):
        return []
    notes = []
    for key, entry in section.entries.items():
        if not key.strip():
            notes.append(Note(section.file, entry.line, "(line)", "no variable name: not imported"))
        names = sorted(set(_DOLLAR.findall(entry.value)))
        if section.name == "env":  # its $(circus.env.x) too (_common_env)
            names += [f"(circus.env.{m[0] or m[1]})" for m in _ENV_IN_ENV.findall(entry.value)]
        if names:
            text = (
                f"{', '.join('$' + n for n in names)} filled in from the environment of "
                "procward import, as circusd did from its own at start: check the value"
            )
            notes.append(Note(section.file, entry.line, key, text))
        if section.name != "env" and _CIRCUS_IN_ENV.search(entry.value):
            text = "circusd expands no $(circus.x) in [env:x] values: kept as written"
            notes.append(Note(section.file, entry.line, key, text))
    return notes


def _own_env(watcher: str, envs: list[tuple[Section, re.Pattern[str]]]) -> dict[str, str]:
    """What the ``[env:patterns]`` sections naming ``watcher`` set, in file order."""
    found: dict[str, str] = {}
    for section, names in envs:
        if names.fullmatch(watcher):
            found.update((k, e.value) for k, e in section.entries.items())
    return found


def _watchers_of(section: Section) -> re.Pattern[str]:
    """The watcher names ``[env:a,web*]`` is for: its ``fnmatch`` patterns as one regex."""
    patterns = [p.strip() for p in section.name.split("env:", 1)[1].split(",")]
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


def _procward_env(value: str, environ: Mapping[str, str]) -> str:
    """A value as circusd passes it: ``$NAME`` from the environment, stripped."""
    text = _DOLLAR.sub(lambda m: environ.get(m.group(1), ""), value).strip()
    return to_procward(text, dollars=False)[0]


def _sockets(
    sections: list[Section],
    common: dict[str, str],
    environ: Mapping[str, str],
    notes: list[Note],
) -> dict[str, str]:
    """``[socket:x]`` name (lower-cased, as circusd has it) -> procward's address."""
    lookup = {k.lower(): v for k, v in [*environ.items(), *common.items()]}
    found = {}
    for section in sections:
        if section.name.startswith("socket:"):
            values = {
                k: _ENV_IN_ENV.sub(lambda m: _env(m, lookup), e.value)
                for k, e in section.entries.items()
            }
            address = _address(section, values, notes)
            if address is not None:
                found[section.name.split("socket:", 1)[1].lower()] = address
    return found


def _env(match: re.Match[str], lookup: Mapping[str, str]) -> str:
    return lookup.get((match.group(1) or match.group(2)).lower(), match.group(0))


def _address(section: Section, values: dict[str, str], notes: list[Note]) -> str | None:
    """procward's address for a socket section, or ``None`` and a note."""
    where = (section.file, section.line, f"[{section.name}]")
    family = values.get("family", "AF_INET").strip().upper()
    kind = values.get("type", "SOCK_STREAM").strip().upper()
    if family not in _FAMILIES or kind != "SOCK_STREAM":
        notes.append(Note(*where, f"{family} {kind}: procward holds stream sockets only"))
        return None
    for key in ("umask", "backlog", "interface", "so_reuseport", "blocking", "proto"):
        if key in values:
            notes.append(_socket_note(section, key))
    path = values.get("path", "").strip()
    if path or family == "AF_UNIX":
        if not os.path.isabs(path):
            notes.append(Note(*where, f"path {path!r} is not absolute: not imported"))
            return None
        return path
    host, port = values.get("host", "localhost").strip(), values.get("port", "8080").strip()
    if not port.isdigit():
        notes.append(Note(*where, f"port {port!r} is not a number: not imported"))
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _socket_note(section: Section, key: str) -> Note:
    why = {
        "umask": "procward creates Unix sockets with the daemon's umask",
        "backlog": "procward's backlog is 1024",
        "interface": "procward binds the address only",
        "so_reuseport": "procward holds one socket, so one accept queue, for every process",
        "blocking": "the app sets its own listening socket's mode",
        "proto": "procward's stream sockets use the family's default protocol",
    }[key]
    return Note(section.file, section.entries[key].line, key, f"not imported: {why}")


def _check_shared(
    app: ImportedApp, holders: dict[str, str], section: Section, notes: list[Note]
) -> None:
    """procward binds a socket once per app: a second app naming it could not listen."""
    sockets = app.keys.get("sockets")
    for name in sockets if isinstance(sockets, dict) else ():
        if name in holders:
            notes.append(
                Note(
                    section.file,
                    section.line,
                    f"[{section.name}]",
                    f"names socket {name!r}, which {holders[name]!r} holds too: procward binds "
                    "a socket per app, so one of them cannot listen; make them one app with "
                    "instances, or give one its own address",
                )
            )
        holders.setdefault(name, app.name)


def _other_section(
    section: Section, watchers: list[str], holders: dict[str, str], sockets: dict[str, str]
) -> list[Note]:
    name, where = section.name, (section.file, section.line, f"[{section.name}]")
    if name.startswith("env:") and not list(filter(_watchers_of(section).fullmatch, watchers)):
        return [Note(*where, "names no watcher of this file: not imported")]
    socket = name.split("socket:", 1)[1].lower() if name.startswith("socket:") else ""
    if socket in sockets and socket not in holders:
        return [Note(*where, "no watcher's command names it: not imported")]
    if name == "circus":
        return _daemon_notes(section)
    if name == "DEFAULT":
        return [Note(*where, "circusd adds these keys to every section: write them where needed")]
    if name.startswith("plugin:"):
        return [Note(*where, _plugin(section))]
    if name == "" and (section.entries or section.stray):
        first = min([e.line for e in section.entries.values()] + section.stray)
        return [
            Note(section.file, first, "(no section)", "circusd refuses keys before any section")
        ]
    known = ("watcher:", "env:", "socket:", "plugin:")
    if name.strip().startswith(known) and not name.startswith(known):
        return [Note(*where, "circusd reads the spaces as part of its name: not imported")]
    if name and not name.startswith(known) and name != "env":
        return [Note(*where, "not a Circus section procward knows: ignored")]
    return [
        Note(section.file, n, "(line)", "not key = value: circusd refuses the file")
        for n in section.stray
    ]


_DAEMON_KEYS = {
    "umask": "circusd's umask was every app's: set umask per app",
    "warmup_delay": "a pause between watchers: depends_on with ready = { delay } orders starts",
}
_PLUGINS = {
    "StatsdEmitter": "procward metrics shows CPU and memory per instance",
    "FullStats": "procward metrics shows CPU and memory per instance",
    "Flapping": "procward's backoff and max_restarts stop a flapping app",
    "WatchDog": "give the app a health probe (health = { ... }) or ready = { notify }",
    "HttpObserver": "give the app an http health probe (health = { http = ... })",
    "RedisObserver": "give the app a health probe (health = { tcp = ... })",
    "ResourceWatcher": "use max_memory (restart above it) or memory_max and cpu_max",
    "CommandReloader": "use watch = { ... } to reload an app when its files change",
}


def _daemon_notes(section: Section) -> list[Note]:
    notes = [
        Note(
            section.file,
            section.line,
            "[circus]",
            "circusd's own settings: procward's are its home and options",
        )
    ]
    for key, entry in section.entries.items():
        if key in _DAEMON_KEYS:
            notes.append(Note(section.file, entry.line, key, _DAEMON_KEYS[key]))
    return notes


def _plugin(section: Section) -> str:
    use = section.entries.get("use")
    cls = use.value.strip().rpartition(".")[2] if use else ""
    instead = _PLUGINS.get(cls, "procward runs no plugins")
    return f"not imported: a circusd plugin ({cls or 'no use ='}); {instead}"
