"""One supervisord ``[program:x]`` into one procward app, key by key.

Each supervisord key has a handler that writes procward's key, or a note
saying why it does not carry over. Keys that procward answers in
``supervision/otherkeys.py`` (for people who write them in procward.toml)
take that answer as their note, so both say the same thing.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
from collections.abc import Callable, Mapping

from procward.importers.cmdform import as_cmd
from procward.importers.expansions import ExpansionError, expand, has_instance, to_procward
from procward.importers.heldsockets import FIRST_FD, ON_STDIN_NOTE, on_stdin
from procward.importers.inifile import Entry, Section
from procward.importers.record import ImportedApp, Note, not_imported
from procward.kit import _signals as signals

__all__ = ["PROGRAM_KEYS", "program"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_SIZE = re.compile(r"(\d+)\s*(kb|mb|gb)?", re.IGNORECASE)
_PRIORITY = 999  # supervisord's default
_ENV_NAME = re.compile(r"%\(ENV_([^)]*)\)")


class _Program:
    """The app being built: its keys, its notes, and what expansions know."""

    def __init__(self, section: Section, name: str, names: dict[str, str]) -> None:
        self.section, self.name, self.names = section, name, names
        self.keys: dict[str, object] = {}
        self.notes: list[Note] = []
        self.instances = 1
        self.priority = _PRIORITY

    def note(self, entry: Entry, key: str, text: str) -> None:
        self.notes.append(Note(self.section.file, entry.line, key, text))

    def value(self, entry: Entry, key: str) -> str | None:
        """The expanded value, ``None`` (and a note) if it cannot be expanded."""
        try:
            return expand(entry.value, self.names)
        except ExpansionError as e:
            self.note(entry, key, f"{e}: not imported")
            return None

    def plain(self, entry: Entry, key: str) -> str | None:
        """A value that cannot differ per instance (a number, a flag, a path)."""
        text = self.value(entry, key)
        if text is not None and has_instance(text):
            self.note(entry, key, "uses %(process_num)d, which procward cannot put here")
            return None
        return text


def program(
    section: Section, name: str, group: str, environ: Mapping[str, str]
) -> tuple[ImportedApp, int] | None:
    """The app of ``[program:name]`` and its priority, or ``None`` without a ``command``.

    An app whose command could not be read comes back without ``cmd``, with
    the notes saying why: the caller reports it and leaves it out.
    """
    if "command" not in section.entries:
        return None
    names = {f"ENV_{k}": v for k, v in environ.items()}
    names |= {
        "program_name": section.name.split(":", 1)[1].strip(),
        "group_name": group,
        "here": os.path.dirname(section.file),
        "host_node_name": socket.gethostname(),
    }
    prog = _Program(section, name, names)
    entries = section.entries
    if "numprocs" in entries:  # first: the others may use %(numprocs)d
        _numprocs(prog, "numprocs", entries["numprocs"])
    names["numprocs"] = str(prog.instances)
    _env_notes(prog)
    for key, entry in entries.items():
        handler = _HANDLERS.get(key)
        if handler is not None:
            handler(prog, key, entry)
        elif key not in _DONE_ELSEWHERE:
            prog.note(entry, key, not_imported(key))
    _restart(prog)
    if section.name.startswith("fcgi-program:"):
        _fcgi_socket(prog)
    for key, line in section.repeated:
        prog.notes.append(Note(section.file, line, key, "set again below: the last one counts"))
    notes = tuple(sorted(prog.notes, key=lambda note: note.line))
    keys = {"cmd": prog.keys.pop("cmd")} | prog.keys if "cmd" in prog.keys else prog.keys
    return ImportedApp(prog.name, keys, notes, f"{section.file}:{section.line}"), prog.priority


# -- the keys ---------------------------------------------------------------------


def _command(prog: _Program, key: str, entry: Entry) -> None:
    """supervisord splits the command as the shell would and runs it without one."""
    text = prog.value(entry, "command")
    if text is None:
        return
    try:
        words = shlex.split(text)
    except ValueError as e:
        prog.note(entry, "command", f"cannot be split into arguments ({e}): not imported")
        return
    prog.keys["cmd"] = as_cmd(words)
    _check_padding(prog, entry, "command", text)


def _check_padding(prog: _Program, entry: Entry, key: str, text: str) -> None:
    widest = to_procward(text, dollars=False)[1]
    if widest > 1 and prog.instances > 10:
        prog.note(
            entry,
            key,
            f"%(process_num)0{widest}d is written as zeros then {{instance}}, right for "
            "instances 0-9 only: procward does not pad numbers",
        )


def _directory(prog: _Program, key: str, entry: Entry) -> None:
    text = prog.plain(entry, "directory")
    if text is not None:
        prog.keys["cwd"] = text


def _environment(prog: _Program, key: str, entry: Entry) -> None:
    text = prog.value(entry, "environment")
    if text is None:
        return
    try:
        pairs = key_value_pairs(text)
    except ValueError as e:
        prog.note(entry, "environment", f"{e}: not imported")
        return
    prog.keys["env"] = {k: to_procward(v, dollars=False)[0] for k, v in pairs.items()}
    _check_padding(prog, entry, "environment", text)


def key_value_pairs(text: str) -> dict[str, str]:
    """supervisord's ``environment=`` rule: ``A="x y",B=z``, as its ``shlex`` reads it.

    Its lexer is ``shlex`` in non-POSIX mode with ``/.+-():`` added to the word
    characters: a value with other characters (``@``, ``*``, ``,``, spaces)
    must be quoted, and one pair of quotes is removed.
    """
    lexer = shlex.shlex(text.replace("\n", " "))
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    found = {}
    for i in range(0, len(tokens), 4):
        triple = tokens[i : i + 3]
        if len(triple) != 3 or triple[1] != "=" or (i + 3 < len(tokens) and tokens[i + 3] != ","):
            raise ValueError(f"not KEY=value pairs separated by commas near {' '.join(triple)!r}")
        key, value = triple[0], triple[2]
        if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        found[key] = value
    return found


def _numprocs(prog: _Program, key: str, entry: Entry) -> None:
    number = _integer(prog, entry, "numprocs")
    if number is not None and number >= 1:
        prog.instances = number
        prog.keys["instances"] = number


def _process_name(prog: _Program, key: str, entry: Entry) -> None:
    if entry.value.strip() != "%(program_name)s" and prog.instances == 1:
        prog.note(entry, "process_name", f"not needed: the app is named {prog.name!r}")
    elif entry.value.strip() != "%(program_name)s":
        prog.note(
            entry,
            "process_name",
            f"not needed: instances are named {prog.name}.0, {prog.name}.1, ... "
            "(procward status, procward logs NAME --index N)",
        )


def _numprocs_start(prog: _Program, key: str, entry: Entry) -> None:
    if entry.value.strip() != "0":
        prog.note(
            entry,
            "numprocs_start",
            "procward's {instance} counts from 0: add the offset in the command if it matters",
        )


def _flag(procward_key: str) -> Callable[[_Program, str, Entry], None]:
    def read(prog: _Program, key: str, entry: Entry) -> None:
        flag = _boolean(prog, entry, key)
        if flag is not None:
            prog.keys[procward_key] = flag

    return read


def _seconds(procward_key: str) -> Callable[[_Program, str, Entry], None]:
    def read(prog: _Program, key: str, entry: Entry) -> None:
        number = _integer(prog, entry, key)
        if number is not None:
            prog.keys[procward_key] = f"{number}s"

    return read


def _startretries(prog: _Program, key: str, entry: Entry) -> None:
    number = _integer(prog, entry, "startretries")
    if number is not None:
        prog.keys["max_restarts"] = number
        prog.note(
            entry,
            "startretries",
            "written as max_restarts: procward counts every restart within restart_window "
            "(60s), not only failed starts",
        )


def _stopsignal(prog: _Program, key: str, entry: Entry) -> None:
    text = (prog.plain(entry, "stopsignal") or "").strip()
    try:
        prog.keys["stop_signal"] = signals.name(signals.number(text.upper().removeprefix("SIG")))
    except ValueError:
        prog.note(entry, "stopsignal", f"unknown signal {text!r}: TERM is used")


def _as_group(prog: _Program, key: str, entry: Entry) -> None:
    if _boolean(prog, entry, key) is False:
        prog.note(entry, key, "procward always signals the whole process group")


def _user(prog: _Program, key: str, entry: Entry) -> None:
    text = prog.plain(entry, "user")
    if text is not None:
        prog.keys["user"] = text
        prog.note(entry, "user", "kept as user: only a daemon run as root can switch user")


def _umask(prog: _Program, key: str, entry: Entry) -> None:
    text = (prog.plain(entry, "umask") or "").strip()
    if text and set(text) <= set("01234567") and len(text) <= 4 and int(text, 8) <= 0o777:
        prog.keys["umask"] = text
    elif text:
        prog.note(entry, "umask", f"{text!r} is not an octal umask: not imported")


def _priority(prog: _Program, key: str, entry: Entry) -> None:
    number = _integer(prog, entry, "priority")
    if number is not None:
        prog.priority = number


def _autorestart(prog: _Program, key: str, entry: Entry) -> None:
    """Read in ``_restart``, with ``exitcodes``, once every key is known."""


def _restart(prog: _Program) -> None:
    entries = prog.section.entries
    mode = entries["autorestart"].value.strip().lower() if "autorestart" in entries else ""
    if mode in _TRUE:
        prog.keys["restart"] = "always"
    elif mode in _FALSE:
        prog.keys["restart"] = "never"
    elif mode and mode != "unexpected":
        prog.note(entries["autorestart"], "autorestart", f"{mode!r}: on-failure is used")
    if "exitcodes" in entries and prog.keys.get("restart") not in ("always", "never"):
        codes = {c.strip() for c in entries["exitcodes"].value.split(",") if c.strip()}
        if codes != {"0"}:
            others = ", ".join(sorted(codes - {"0"}, key=lambda c: (len(c), c))) or "none"
            prog.note(
                entries["exitcodes"],
                "exitcodes",
                f"procward expects exit 0 only: on-failure restarts after exit {others} too"
                + ("" if "0" in codes else ", and not after exit 0"),
            )


def _socket_key(prog: _Program, key: str, entry: Entry) -> None:
    """Read in ``_fcgi_socket``; a ``[program:x]`` has no socket."""
    if not prog.section.name.startswith("fcgi-program:"):
        prog.note(entry, key, "only an [fcgi-program:x] has a socket: not imported")


def _fcgi_socket(prog: _Program) -> None:
    """The socket supervisord binds and puts on fd 0 of every process, held by procward.

    procward passes it at fd 3 (``heldsockets.py``); the command is wrapped to
    move it to fd 0. An fcgi-program whose socket cannot be read is not imported.
    """
    entries = prog.section.entries
    entry = entries.get("socket")
    address = None if entry is None else _fcgi_address(prog, entry)
    cmd = prog.keys.pop("cmd", None)
    if entry is None:
        why = "an [fcgi-program:x] needs socket = tcp://host:port or unix:///path: not imported"
        prog.notes.append(Note(prog.section.file, prog.section.line, "socket", why))
    if entry is None or address is None or not isinstance(cmd, str | list):
        return
    prog.keys["cmd"] = on_stdin(cmd, FIRST_FD)
    prog.keys["sockets"] = {"fcgi": address}
    prog.note(entry, "socket", ON_STDIN_NOTE.format(fd=FIRST_FD))
    for key, why in _FCGI_NOT_IMPORTED.items():
        if key in entries:
            prog.note(entries[key], key, f"not imported: {why}")


def _fcgi_address(prog: _Program, entry: Entry) -> str | None:
    """procward's address for ``tcp://host:port`` or ``unix:///path``, as supervisord reads it."""
    text = (prog.plain(entry, "socket") or "").strip()
    tcp = re.fullmatch(r"tcp://([^\s:]+):(\d+)", text)
    if tcp:
        return f"{tcp.group(1)}:{tcp.group(2)}"
    if text.startswith("unix:///"):
        return text.removeprefix("unix://")
    if text:
        prog.note(entry, "socket", f"{text!r} is not tcp://host:port or unix:///path: not imported")
    return None


_FCGI_NOT_IMPORTED = {
    "socket_owner": "procward creates a Unix socket as the daemon's user: chown it after start",
    "socket_mode": "procward creates a Unix socket with the daemon's umask: chmod it after start",
    "socket_backlog": "procward's backlog is 1024",
}


def _logfile(prog: _Program, key: str, entry: Entry) -> None:
    if key == "stdout_logfile_maxbytes":
        size = _size(prog, entry, key)
        if size == 0:
            prog.note(entry, key, "0 (never rotate): procward always rotates, 10MB by default")
        elif size is not None:
            prog.keys["log_max_size"] = size
    elif key == "stdout_logfile_backups":
        number = _integer(prog, entry, key)
        if number is not None:
            prog.keys["log_backups"] = number
    elif key in ("stderr_logfile_maxbytes", "stderr_logfile_backups"):
        stdout_key = key.replace("stderr", "stdout")
        other = prog.section.entries.get(stdout_key)
        if other is None or other.value.strip() != entry.value.strip():
            prog.note(entry, key, f"procward has one setting for both logs: use {stdout_key}'s")
    elif entry.value.strip() in ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"):
        prog.note(entry, key, "to the console: procward run -c FILE --logs (containers)")
    elif entry.value.strip().upper() != "AUTO":
        prog.note(
            entry, key, "not needed: output goes to logs/<app>/<n>.out and .err (procward logs)"
        )


def _not_needed(why: str) -> Callable[[_Program, str, Entry], None]:
    def read(prog: _Program, key: str, entry: Entry) -> None:
        prog.note(entry, key, f"not imported: {why}")

    return read


def _env_notes(prog: _Program) -> None:
    """One note per key that took a value from the importer's environment."""
    for key, entry in prog.section.entries.items():
        used = sorted(set(_ENV_NAME.findall(entry.value)))
        if used:
            prog.note(
                entry,
                key,
                f"{', '.join(f'%(ENV_{n})s' for n in used)} filled in from the environment of "
                "procward import, as supervisord did from its own at start: check the value",
            )


# -- values ------------------------------------------------------------------------


def _integer(prog: _Program, entry: Entry, key: str) -> int | None:
    raw = prog.plain(entry, key)
    if raw is None:
        return None
    text = raw.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text:
        prog.note(entry, key, f"{text!r} is not a number: not imported")
    return None


def _boolean(prog: _Program, entry: Entry, key: str) -> bool | None:
    raw = prog.plain(entry, key)
    if raw is None:
        return None
    text = raw.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    prog.note(entry, key, f"{text!r} is not true or false: not imported")
    return None


def _size(prog: _Program, entry: Entry, key: str) -> str | int | None:
    """Bytes, or ``"50MB"``: supervisord's units are procward's (powers of 1024)."""
    raw = prog.plain(entry, key)
    if raw is None:
        return None
    text = raw.strip()
    match = _SIZE.fullmatch(text)
    if match is None:
        prog.note(entry, key, f"{text!r} is not a size like 50MB: not imported")
        return None
    number, unit = int(match.group(1)), (match.group(2) or "").upper()
    return f"{number}{unit}" if unit and number else number


_HANDLERS: dict[str, Callable[[_Program, str, Entry], None]] = {
    "command": _command,
    "directory": _directory,
    "environment": _environment,
    "process_name": _process_name,
    "numprocs_start": _numprocs_start,
    "autostart": _flag("autostart"),
    "autorestart": _autorestart,
    "startsecs": _seconds("min_start"),
    "startretries": _startretries,
    "stopsignal": _stopsignal,
    "stopwaitsecs": _seconds("stop_timeout"),
    "stopasgroup": _as_group,
    "killasgroup": _as_group,
    "user": _user,
    "umask": _umask,
    "priority": _priority,
    "serverurl": _not_needed("procward apps talk to no supervisord"),
    "stdout_capture_maxbytes": _not_needed("procward has no capture mode (events: issue 15)"),
    "stderr_capture_maxbytes": _not_needed("procward has no capture mode (events: issue 15)"),
    "stdout_events_enabled": _not_needed("procward events are always on (procward events)"),
    "stderr_events_enabled": _not_needed("procward events are always on (procward events)"),
    "stdout_syslog": _not_needed("procward writes no syslog: read the log files"),
    "stderr_syslog": _not_needed("procward writes no syslog: read the log files"),
    "redirect_stderr": _flag("merge_logs"),
    **dict.fromkeys(("socket", *_FCGI_NOT_IMPORTED), _socket_key),
    **dict.fromkeys(
        (
            "stdout_logfile",
            "stderr_logfile",
            "stdout_logfile_maxbytes",
            "stdout_logfile_backups",
            "stderr_logfile_maxbytes",
            "stderr_logfile_backups",
        ),
        _logfile,
    ),
}
_DONE_ELSEWHERE = frozenset({"numprocs", "exitcodes"})
PROGRAM_KEYS = frozenset(_HANDLERS) | _DONE_ELSEWHERE
