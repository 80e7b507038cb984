"""``supervisord.conf`` (and its ``[include]`` fragments) into procward apps.

``[program:x]`` and ``[fcgi-program:x]`` sections become apps (the latter
with a held socket: ``programkeys._fcgi_socket``); ``[group:x]``,
``[eventlistener:x]`` and the daemon's own sections are reported. Values are
expanded as supervisord does when it reads them (``expansions.py``), so
``%(ENV_X)s`` takes the value of the environment of ``procward import``, as
supervisord took its own at start; a note says so where it is used.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping

from procward.importers import programkeys
from procward.importers.inifile import Section, read_ini
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

__all__ = ["read_supervisord"]

_DAEMON_SECTIONS = ("supervisord", "supervisorctl", "unix_http_server", "inet_http_server")
# Keys of those sections that [program:x] has too: theirs, not misplaced.
_DAEMON_KEYS = frozenset({"user", "umask", "directory", "environment", "serverurl"})
# supervisord's events -> the nearest events of procward's [hooks] (decision 0042).
_HOOK_EVENTS = {
    "PROCESS_STATE_EXITED": ("exited", "crashed"),
    "PROCESS_STATE_FATAL": ("crashed",),
    "PROCESS_STATE_BACKOFF": ("crashed", "restarted"),
    "PROCESS_STATE_STARTING": ("restarted",),
    "PROCESS_STATE_RUNNING": ("restarted",),
    "PROCESS_STATE": ("crashed", "exited", "restarted"),
    "EVENT": ("crashed", "exited", "restarted", "unhealthy"),
}
# Event names by prefix that no hook event matches, and what procward has instead.
_NO_HOOK_EVENT = {
    "TICK_": "a health probe checks on an interval, cron_restart acts on a schedule",
    "PROCESS_LOG": "procward logs -f follows the output",
    "PROCESS_STATE_STOP": "a stop asked for is in procward events",
    "PROCESS_STATE_UNKNOWN": "procward always knows its processes' states",
    "SUPERVISOR_STATE_CHANGE": "the daemon's starts and stops are in procward events",
    "PROCESS_GROUP": "procward has no groups",
    "PROCESS_COMMUNICATION": "procward reads no protocol on the output",
    "REMOTE_COMMUNICATION": "procward has no such RPC",
}
# superlance's listeners that procward does without a hook.
_LISTENERS = {
    "memmon": "use max_memory, which restarts an app above a size",
    "httpok": "use an http health probe, health = { http = '...' }",
}
_MAX_INCLUDES = 100  # files: an include that globs itself in would loop


def read_supervisord(path: str, environ: Mapping[str, str]) -> Imported:
    notes: list[Note] = []
    sections = _read_with_includes(os.path.abspath(path), [], notes)
    groups = _groups(sections, notes)
    programs = [s for s in sections if s.name.startswith(("program:", "fcgi-program:"))]
    apps = []
    taken: set[str] = set()
    for section in programs:
        program = section.name.split(":", 1)[1].strip()
        allowed = app_name(program)
        name = unique_name(allowed, taken)
        taken.add(name)
        found = programkeys.program(section, name, groups.get(program, program), environ)
        where = (section.file, section.line, f"[{section.name}]")
        if name != allowed:
            notes.append(Note(*where, f"imported as {name!r}: {allowed!r} is another program's"))
        elif name != program:
            notes.append(Note(*where, f"imported as {name!r}: procward's app names allow that"))
        if found is None:
            notes.append(Note(*where, "has no command: not imported"))
        elif "cmd" not in found[0].keys:
            notes += [Note(*where, "its command cannot be used: not imported"), *found[0].notes]
        else:
            apps.append(found)
    for section in sections:
        notes.extend(_other_section(section))
    if apps:
        whole = CLEAN_ENVIRONMENT.format(who="supervisord")
        notes.append(Note(os.path.abspath(path), 0, "(environment)", whole))
    return Imported(path, "supervisord", tuple(start_order(apps)), tuple(notes))


def start_order(apps: list[tuple[ImportedApp, int]]) -> list[ImportedApp]:
    """Apps by priority; each tier ``depends_on`` the one below, as supervisord starts them.

    supervisord starts lower priorities first and stops them last; procward's
    ``depends_on`` starts an app after its dependencies are running and stops
    it before them. Only apps that start with the daemon take part: one
    depending on an app that never starts would wait for it.
    """
    ordered = sorted(apps, key=lambda pair: pair[1])
    starting = [(app, p) for app, p in ordered if app.keys.get("autostart", True)]
    tiers = sorted({p for _, p in starting})
    for app, p in starting:
        if p != tiers[0]:
            below = tiers[tiers.index(p) - 1]
            app.keys["depends_on"] = [a.name for a, q in starting if q == below]
    return [app for app, _ in ordered]


def _read_with_includes(path: str, seen: list[str], notes: list[Note]) -> list[Section]:
    if path in seen:
        return []
    if len(seen) >= _MAX_INCLUDES:
        raise ImportRefused(f"{path}: more than {_MAX_INCLUDES} files included")
    seen.append(path)
    text = read_source(path)
    sections = read_ini(text, path)
    found = list(sections)
    for section in sections:
        if section.name != "include" or "files" not in section.entries:
            continue
        entry = section.entries["files"]
        here = os.path.dirname(path)
        for pattern in entry.value.replace("%(here)s", here).split():
            matches = sorted(glob.glob(os.path.join(here, os.path.expanduser(pattern))))
            if not matches:
                notes.append(Note(path, entry.line, "files", f"{pattern!r} matches no file"))
            for match in matches:
                found.extend(_read_with_includes(os.path.abspath(match), seen, notes))
    return found


def _groups(sections: list[Section], notes: list[Note]) -> dict[str, str]:
    """program -> its group's name; each group is reported once."""
    found: dict[str, str] = {}
    for section in sections:
        if not section.name.startswith("group:"):
            continue
        group = section.name.removeprefix("group:").strip()
        members = section.entries.get("programs")
        names = [n.strip() for n in members.value.split(",")] if members else []
        found.update((name, group) for name in names if name)
        notes.append(
            Note(
                section.file,
                section.line,
                f"[{section.name}]",
                f"procward has no groups: {', '.join(names) or 'its programs'} are apps of "
                "their own (start, stop or restart them by name, or 'all')",
            )
        )
    return found


def _eventlistener(section: Section) -> str:
    """Why an event listener is not imported, and the hook it would be in procward."""
    entry = section.entries.get("events")
    events = [e.strip().upper() for e in (entry.value if entry else "").split(",") if e.strip()]
    wanted = sorted({hook for e in events for hook in _HOOK_EVENTS.get(e, ())})
    quoted = ", ".join(f'"{e}"' for e in wanted)
    on = f"on = [{quoted}]" if wanted else "on = [...]"
    mapped = "; ".join(f"{e} -> {_hook_events(e)}" for e in events) or "none given"
    command = section.entries.get("command")
    program = os.path.basename(command.value.split()[0]) if command and command.value else ""
    instead = f" {program}: {_LISTENERS[program]}." if program in _LISTENERS else ""
    return (
        "not imported: an event listener speaks supervisord's event protocol; procward "
        f"calls hooks instead, a [hooks.NAME] table with {on} and run = 'command' (the "
        f"event as JSON on stdin) or url = '...' (a webhook). Its events: {mapped}.{instead}"
    )


def _hook_events(event: str) -> str:
    if event in _HOOK_EVENTS:
        return ", ".join(_HOOK_EVENTS[event])
    instead = next((w for p, w in _NO_HOOK_EVENT.items() if event.startswith(p)), None)
    return f"no hook event ({instead})" if instead else "not a supervisord event"


def _other_section(section: Section) -> list[Note]:
    name, where = section.name, (section.file, section.line, f"[{section.name}]")
    if name.startswith("eventlistener:"):
        return [Note(*where, _eventlistener(section))]
    if name in _DAEMON_SECTIONS or name.startswith("rpcinterface:"):
        misplaced = [
            Note(section.file, entry.line, key, f"a [program:x] key in [{name}]: not imported")
            for key, entry in section.entries.items()
            if key in programkeys.PROGRAM_KEYS and key not in _DAEMON_KEYS
        ]
        return [
            Note(*where, "the daemon's own settings: procward's are its home and options"),
            *misplaced,
        ]
    if name == "" and section.entries:
        first = min(section.entries.values(), key=lambda e: e.line)
        return [Note(section.file, first.line, "(no section)", "keys before any section ignored")]
    known = ("program:", "group:", "include", "eventlistener:", "fcgi-program:", "rpcinterface:")
    if name and not name.startswith(known) and name not in _DAEMON_SECTIONS:
        return [Note(*where, "not a supervisord section procward knows: ignored")]
    return [Note(section.file, n, "(line)", "not key = value: ignored") for n in section.stray]
