"""One Circus ``[watcher:x]`` into one procward app, key by key.

As ``programkeys.py`` does for supervisord: each key has a handler that
writes procward's key or a note saying why it does not carry over. What
differs from supervisord is how values are expanded (``$(circus.x)``, any
case, also written ``((circus.x))``):

- ``$(circus.env.x)`` comes from circusd's environment, ``[env]`` and the
  watcher's ``[env:...]`` sections (``circus.py`` builds that lookup);
  names from the environment of ``procward import`` get a note;
- ``$(circus.wid)`` (and the old ``$WID``) becomes procward's
  ``{instance}``; Circus counts its workers from 1, procward from 0;
- ``$(circus.sockets.name)``, in ``cmd`` and ``args`` only, becomes the fd
  procward passes that socket at (``heldsockets.py``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from procward.importers.cmdform import as_cmd
from procward.importers.expansions import ExpansionError, has_instance, instance_marker
from procward.importers.heldsockets import FIRST_FD, ON_STDIN_NOTE, on_stdin
from procward.importers.inifile import Entry, Section
from procward.importers.record import ImportedApp, Note, not_imported
from procward.kit import _signals as signals
from procward.kit._durations import format_duration

__all__ = ["WATCHER_KEYS", "Context", "watcher"]

_TRUE = ("yes", "true", "on", "1")  # circus.util.to_bool
_FALSE = ("no", "false", "off", "0")
_CIRCUS = re.compile(r"\$\(circus\.([\w.-]+)\)|\(\(circus\.([\w.-]+)\)\)", re.IGNORECASE)
_WID_NOTE = (
    "$(circus.wid) is written {instance}: Circus numbers its processes from 1, "
    "procward from 0 (wid 1 is instance 0)"
)
_MAX_AGE_VARIANCE = 30  # Circus's default, in seconds
_STREAMS = ("stdout_stream", "stderr_stream")


@dataclass(frozen=True, slots=True)
class Context:
    """What the whole file tells one watcher."""

    lookup: Mapping[str, str]  # $(circus.env.x) names, lower-cased -> value
    outside: frozenset[str]  # of those, the names only the importer's environment has
    env: Mapping[str, str]  # the watcher's env sections, as procward env values
    sockets: Mapping[str, str]  # [socket:x] name, lower-cased -> procward address


@dataclass(slots=True)
class _Watcher:
    section: Section
    name: str
    context: Context
    keys: dict[str, object] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    priority: int = 0
    sockets: list[str] = field(default_factory=list)  # used by the command, in fd order

    def note(self, entry: Entry, key: str, text: str) -> None:
        self.notes.append(Note(self.section.file, entry.line, key, text))

    def value(self, entry: Entry, key: str, *, command: bool = False) -> str | None:
        """The expanded value, ``None`` (and a note) if it cannot be expanded."""
        try:
            text = _CIRCUS.sub(lambda m: self._one(m, command), entry.value)
        except ExpansionError as e:
            self.note(entry, key, f"{e}: not imported")
            return None
        used = sorted({n for n in _env_names(entry.value) if n in self.context.outside})
        if used:
            self.note(
                entry,
                key,
                f"{', '.join(f'$(circus.env.{n})' for n in used)} filled in from the "
                "environment of procward import, as circusd did from its own: check the value",
            )
        return text

    def plain(self, entry: Entry, key: str) -> str | None:
        """A value that cannot differ per instance (a number, a flag, a path)."""
        text = self.value(entry, key)
        if text is not None and has_instance(text):
            self.note(entry, key, "uses $(circus.wid), which procward cannot put here")
            return None
        return None if text is None else text.strip()

    def _one(self, match: re.Match[str], command: bool) -> str:
        name = (match.group(1) or match.group(2)).lower()
        if name == "wid":
            return instance_marker()
        if name.startswith("env."):
            found = self.context.lookup.get(name[4:])
            if found is None:
                raise ExpansionError(f"{match.group(0)}: it is not set where procward import runs")
            return found
        if name.startswith("sockets.") and command:
            return str(FIRST_FD + self._socket(name[8:], match.group(0)))
        if name.startswith("sockets."):
            raise ExpansionError(f"{match.group(0)}: Circus fills sockets in cmd and args only")
        raise ExpansionError(f"{match.group(0)} is not a name procward import expands")

    def _socket(self, name: str, text: str) -> int:
        if name not in self.context.sockets:
            raise ExpansionError(f"{text}: no usable [socket:{name}] section")
        if name not in self.sockets:
            self.sockets.append(name)
        return self.sockets.index(name)


def _env_names(value: str) -> list[str]:
    found = (m.group(1) or m.group(2) for m in _CIRCUS.finditer(value))
    return [n.lower()[4:] for n in found if n.lower().startswith("env.")]


def watcher(section: Section, name: str, context: Context) -> tuple[ImportedApp, int] | None:
    """The app of ``[watcher:name]`` and its priority, or ``None`` without a ``cmd``.

    An app whose command could not be read comes back without ``cmd``.
    """
    if "cmd" not in section.entries:
        return None
    w = _Watcher(section, name, context)
    for key, entry in section.entries.items():
        handler = _HANDLERS.get(key) or _HANDLERS.get(key.partition(".")[0] + ".")
        if handler is None and key.startswith("rlimit_"):
            handler = _rlimit
        if handler is not None:
            handler(w, key, entry)
        elif key.lower() in _HANDLERS:
            w.note(entry, key, f"circusd reads keys as written, and {key!r} is not {key.lower()!r}")
        else:
            w.note(entry, key, not_imported(key))
    _command(w)
    _streams(w)
    if context.env:
        w.keys["env"] = dict(context.env)
    if w.keys.get("restart") != "never":
        w.keys["restart"] = "always"  # Circus respawns after any exit
    for key, line in section.repeated:
        w.notes.append(Note(section.file, line, key, "set again: circusd keeps the first one"))
    notes = tuple(sorted(w.notes, key=lambda note: note.line))
    keys = {"cmd": w.keys.pop("cmd")} | w.keys if "cmd" in w.keys else w.keys
    return ImportedApp(name, keys, notes, f"{section.file}:{section.line}"), w.priority


# -- the command --------------------------------------------------------------------


def _command(w: _Watcher) -> None:
    """``cmd`` then ``args``, each split as circusd splits them, then the sockets."""
    words: list[str] = []
    for key in ("cmd", "args"):
        entry = w.section.entries.get(key)
        if entry is None:
            continue
        text = w.value(entry, key, command=True)
        split = None if text is None else _words(w, entry, key, text)
        if split is None:
            return
        words += split
    if words:
        _sockets(w, as_cmd(words))


def _words(w: _Watcher, entry: Entry, key: str, text: str) -> list[str] | None:
    if "$WID" in text:
        text = text.replace("$WID", instance_marker())
        w.note(entry, key, "$WID (old Circus) is written {instance}, as $(circus.wid) is")
    if has_instance(text):
        w.note(entry, key, _WID_NOTE)
    try:
        return shlex.split(text)
    except ValueError as e:
        w.note(entry, key, f"cannot be split into arguments ({e}): not imported")
        return None


def _sockets(w: _Watcher, cmd: str | list[str]) -> None:
    """``cmd`` with the sockets it names, and ``stdin_socket`` on its fd 0."""
    sockets = {name: w.context.sockets[name] for name in w.sockets}
    stdin = w.section.entries.get("stdin_socket")
    if stdin is not None:
        name = stdin.value.strip().lower()
        if name not in w.context.sockets:
            w.note(stdin, "stdin_socket", f"no usable [socket:{name}] section: not imported")
            return
        sockets.setdefault(name, w.context.sockets[name])
        fd = FIRST_FD + list(sockets).index(name)
        cmd = on_stdin(cmd, fd)
        w.note(stdin, "stdin_socket", ON_STDIN_NOTE.format(fd=fd))
    w.keys["cmd"] = cmd
    if sockets:
        w.keys["sockets"] = sockets
    use = w.section.entries.get("use_sockets")
    if use is not None and not sockets and use.value.strip().lower() in _TRUE:
        w.note(
            use,
            "use_sockets",
            "the command names no socket: procward passes an app the sockets it names "
            "($(circus.sockets.x)) or its stdin_socket",
        )


def _shell(w: _Watcher, key: str, entry: Entry) -> None:
    if _boolean(w, entry, key):
        w.note(
            entry,
            key,
            "not needed: circusd quotes every word before /bin/sh sees it, so the shell "
            "expands nothing; imported as the same command without one",
        )


# -- the other keys -----------------------------------------------------------------


def _numprocesses(w: _Watcher, key: str, entry: Entry) -> None:
    number = _integer(w, entry, key)
    if number is not None and number < 1:
        w.note(entry, key, f"{number}: procward runs at least one; use autostart = false")
    elif number is not None and number != 1:
        w.keys["instances"] = number


def _singleton(w: _Watcher, key: str, entry: Entry) -> None:
    if _boolean(w, entry, key):
        w.note(entry, key, "not needed: one instance unless 'instances' says more")


def _working_dir(w: _Watcher, key: str, entry: Entry) -> None:
    text = w.plain(entry, key)
    if text is not None:
        w.keys["cwd"] = text


def _account(procward_key: str) -> Callable[[_Watcher, str, Entry], None]:
    def read(w: _Watcher, key: str, entry: Entry) -> None:
        text = w.plain(entry, key)
        if text is None:
            return
        if procward_key == "group" and "uid" not in w.section.entries:
            w.note(entry, key, "procward sets a group only with a user (uid): not imported")
            return
        w.keys[procward_key] = int(text) if text.isdigit() else text
        w.note(entry, key, f"kept as {procward_key}: only a daemon run as root can switch")

    return read


def _stop_signal(w: _Watcher, key: str, entry: Entry) -> None:
    text = (w.plain(entry, key) or "").upper().removeprefix("SIG")
    try:
        w.keys["stop_signal"] = signals.name(signals.number(text))
    except ValueError:
        w.note(entry, key, f"unknown signal {text!r}: TERM is used")


def _seconds(procward_key: str) -> Callable[[_Watcher, str, Entry], None]:
    def read(w: _Watcher, key: str, entry: Entry) -> None:
        number = _number(w, entry, key)
        if number is not None:
            w.keys[procward_key] = format_duration(number)

    return read


def _max_age(w: _Watcher, key: str, entry: Entry) -> None:
    number = _number(w, entry, key)
    if not number:
        return
    w.keys["max_age"] = format_duration(number)
    variance = w.section.entries.get("max_age_variance")
    jitter = _MAX_AGE_VARIANCE if variance is None else _number(w, variance, "max_age_variance")
    if jitter is not None:
        w.keys["max_age_jitter"] = format_duration(jitter)


def _warmup_delay(w: _Watcher, key: str, entry: Entry) -> None:
    number = _number(w, entry, key)
    if number:
        w.keys["ready"] = {"delay": format_duration(number)}
        w.note(
            entry,
            key,
            "written as ready = { delay }: procward starts the instances together, each "
            "counted as running after the delay, and apps that depend on it wait for that",
        )


def _priority(w: _Watcher, key: str, entry: Entry) -> None:
    number = _integer(w, entry, key)
    if number is not None:
        w.priority = number


def _flag(procward_key: str) -> Callable[[_Watcher, str, Entry], None]:
    def read(w: _Watcher, key: str, entry: Entry) -> None:
        flag = _boolean(w, entry, key)
        if flag is not None:
            w.keys[procward_key] = flag

    return read


def _respawn(w: _Watcher, key: str, entry: Entry) -> None:
    if _boolean(w, entry, key) is False:
        w.keys["restart"] = "never"


def _copy_env(w: _Watcher, key: str, entry: Entry) -> None:
    if _boolean(w, entry, key):
        w.keys["inherit_env"] = True


def _rlimit(w: _Watcher, key: str, entry: Entry) -> None:
    """``rlimit_nofile = 4096`` (empty: unlimited, as circusd reads it) into ``limits``."""
    text = w.plain(entry, key)
    if text is None:
        return
    if text and not text.isdigit():
        w.note(entry, key, f"{text!r} is not a number: not imported")
        return
    limits = w.keys.setdefault("limits", {})
    assert isinstance(limits, dict)
    limits[key.removeprefix("rlimit_").lower()] = int(text) if text else "unlimited"


def _used_elsewhere(w: _Watcher, key: str, entry: Entry) -> None:
    """Read with another key: ``args`` with ``cmd``, ``stdin_socket`` with the sockets."""


def _use_sockets(w: _Watcher, key: str, entry: Entry) -> None:
    command = " ".join(
        w.section.entries[k].value for k in ("cmd", "args") if k in w.section.entries
    )
    if _boolean(w, entry, key) is False and "circus.sockets." in command.lower():
        w.note(entry, key, "false: circusd would close the sockets the command names")


def _hook(w: _Watcher, key: str, entry: Entry) -> None:
    w.note(
        entry,
        key,
        "not imported: procward runs no Python hooks; [hooks] run a command on "
        "crashed, exited, restarted or unhealthy, and depends_on orders starts",
    )


def _not_needed(why: str) -> Callable[[_Watcher, str, Entry], None]:
    def read(w: _Watcher, key: str, entry: Entry) -> None:
        w.note(entry, key, f"not imported: {why}")

    return read


# -- the streams (logs) ---------------------------------------------------------------


def _streams(w: _Watcher) -> None:
    """``stdout_stream.*`` and ``stderr_stream.*`` as procward's one log per stream."""
    out, err = (_stream(w.section, stream) for stream in _STREAMS)
    if "filename" in out and "filename" in err and out["filename"].value == err["filename"].value:
        w.keys["merge_logs"] = True
    for option, procward_key in (("max_bytes", "log_max_size"), ("backup_count", "log_backups")):
        _rotation(w, option, procward_key, out.get(option), err.get(option))
    for stream, options in zip(_STREAMS, (out, err), strict=True):
        for option, entry in options.items():
            _stream_note(w, f"{stream}.{option}", option, entry)


def _rotation(
    w: _Watcher, option: str, procward_key: str, out: Entry | None, err: Entry | None
) -> None:
    """One rotation setting of either stream (procward has one for both)."""
    entry = out or err
    if entry is None:
        return
    key = f"{'stdout' if out else 'stderr'}_stream.{option}"
    number = _integer(w, entry, key)
    if number == 0 and option == "max_bytes":
        w.note(entry, key, "0 (never rotate): procward always rotates, 10MB by default")
    elif number is not None:
        w.keys[procward_key] = number
    if out is not None and err is not None and out.value != err.value:
        w.note(err, f"stderr_stream.{option}", "procward has one setting for both logs: stdout's")


def _stream(section: Section, stream: str) -> dict[str, Entry]:
    prefix = f"{stream}."
    return {k[len(prefix) :]: e for k, e in section.entries.items() if k.startswith(prefix)}


def _stream_note(w: _Watcher, key: str, option: str, entry: Entry) -> None:
    cls = entry.value.strip().rpartition(".")[2]
    if option == "class" and cls in ("StdoutStream", "FancyStdoutStream"):
        w.note(entry, key, "to the console: procward run -c FILE --logs (containers)")
    elif option == "class" and cls == "WatchedFileStream":
        w.note(entry, key, "procward rotates its logs itself (log_max_size, log_backups)")
    elif option == "class" and cls == "TimedRotatingFileStream":
        w.note(entry, key, "procward rotates by size, not by time (log_max_size)")
    elif option == "class" and cls != "FileStream":
        w.note(entry, key, f"{cls}: procward writes log files (procward logs -f follows them)")
    elif option == "filename":
        w.note(entry, key, "not needed: output goes to logs/<app>/<n>.out and .err (procward logs)")
    elif option == "time_format":
        w.keys["log_time"] = True
        w.note(entry, key, "written as log_time = true: procward's times are ISO 8601, UTC")
    elif option not in ("class", "max_bytes", "backup_count"):
        w.note(entry, key, "not imported: procward has no such setting")


# -- values ------------------------------------------------------------------------


def _integer(w: _Watcher, entry: Entry, key: str) -> int | None:
    text = w.plain(entry, key)
    if text is not None and text.lstrip("-").isdigit():
        return int(text)
    if text:
        w.note(entry, key, f"{text!r} is not a whole number: not imported")
    return None


def _number(w: _Watcher, entry: Entry, key: str) -> float | None:
    text = w.plain(entry, key)
    try:
        return None if not text else max(0.0, float(text))
    except ValueError:
        w.note(entry, key, f"{text!r} is not a number: not imported")
        return None


def _boolean(w: _Watcher, entry: Entry, key: str) -> bool | None:
    text = (w.plain(entry, key) or "").lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    w.note(entry, key, f"{text!r} is not true or false: not imported")
    return None


_HANDLERS: dict[str, Callable[[_Watcher, str, Entry], None]] = {
    "cmd": _used_elsewhere,
    "args": _used_elsewhere,
    "stdin_socket": _used_elsewhere,
    "stdout_stream.": _used_elsewhere,
    "stderr_stream.": _used_elsewhere,
    "max_age_variance": _used_elsewhere,
    "shell": _shell,
    "numprocesses": _numprocesses,
    "singleton": _singleton,
    "working_dir": _working_dir,
    "uid": _account("user"),
    "gid": _account("group"),
    "stop_signal": _stop_signal,
    "graceful_timeout": _seconds("stop_timeout"),
    "max_age": _max_age,
    "warmup_delay": _warmup_delay,
    "priority": _priority,
    "autostart": _flag("autostart"),
    "respawn": _respawn,
    "copy_env": _copy_env,
    "use_sockets": _use_sockets,
    "hooks.": _hook,
    "copy_path": _not_needed("procward is no Python host: set PYTHONPATH in env"),
    "virtualenv": _not_needed("put the virtualenv's bin/python (or bin/ in PATH) in cmd"),
    "max_retry": _not_needed(
        "Circus retries a spawn that fails; procward backs off and gives up after "
        "max_restarts within restart_window"
    ),
    "check_flapping": _not_needed("procward's backoff and max_restarts stop a flapping app"),
    "send_hup": _not_needed("procward reload starts new processes rather than send HUP"),
    "stop_children": _not_needed("procward always signals the whole process group"),
    "on_demand": _not_needed("procward starts apps with the daemon, or autostart = false"),
    "env": _not_needed("circusd reads an app's environment from [env:name] sections"),
    **dict.fromkeys(
        ("close_child_stdin", "close_child_stdout", "close_child_stderr"),
        _not_needed("procward gives apps /dev/null as stdin and their log files as output"),
    ),
}
WATCHER_KEYS = frozenset(_HANDLERS)
