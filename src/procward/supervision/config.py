"""Reading ``procward.toml``: every problem at once, and nothing of a bad file.

A config is either valid as a whole, and becomes a ``Config`` of ``AppSpec``,
or it is refused with a ``ConfigError`` listing every problem with its
location (``apps.web.instances: must be an integer >= 0, got 'two'``). A
reload that fixes one typo at a time, or a daemon that applies half a file,
is what this module exists to prevent; hence each key has a reader that
raises ``ValueError`` and the loop around them collects instead of stopping.

Checks that need the whole file (``depends_on`` naming an app that does not
exist, cycles) run after every app has been read, on whatever each app's
``depends_on`` turned out to be, so a mistake elsewhere in an app does not hide
a cycle through it.

This module is pure apart from ``load_config`` reading the file; relative
``cwd`` and ``env_file`` are resolved against ``base_dir`` (the directory of the
config file), so the same file means the same thing wherever the CLI runs.
"""

from __future__ import annotations

import os
import re
import signal
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from procward.kit.structs import Struct, field
from procward.supervision.graph import find_cycles
from procward.supervision.spec import (
    AppSpec,
    Backoff,
    ConfigError,
    Problem,
    ReloadMode,
    RestartMode,
    expand_arg,
    expand_instance,
)
from procward.supervision.values import (
    Nested,
    did_you_mean,
    read_choice,
    read_cmd,
    read_count,
    read_duration,
    read_flag,
    read_table,
    show,
    unknown_key,
)

__all__ = [
    "MAX_INSTANCES",
    "Config",
    "ConfigError",
    "Problem",
    "load_config",
    "parse_app",
    "parse_config",
    "validate_app_name",
]

TOP_LEVEL_KEYS = ("apps", "procward")
MAX_INSTANCES = 256  # of one app, unless a file's [procward] max_instances says more
RESERVED_NAMES = frozenset({"all"})  # the CLI's "every app"
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _NAME_START | frozenset("_-.")


class Config(Struct):
    apps: dict[str, AppSpec]  # in file order
    source: str | None = None
    max_instances: int = MAX_INSTANCES  # the file's cap on an app's instances ([procward])

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """``{app: depends_on}``, the input of ``procward.supervision.graph``."""
        return {name: spec.depends_on for name, spec in self.apps.items()}


def load_config(path: str) -> Config:
    """Read and check a TOML file; ``ConfigError`` (naming ``path``) if anything is wrong."""
    data = _read_toml(path)
    return parse_config(data, base_dir=os.path.dirname(os.path.abspath(path)), source=path)


def _read_toml(path: str) -> dict[str, Any]:
    def fail(message: str) -> ConfigError:
        return ConfigError([Problem(None, None, message)], source=path)

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as e:
        raise fail(f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
        raise fail(f"invalid TOML: {_named_key(path, str(e))}") from None


def _named_key(path: str, message: str) -> str:
    """tomllib's "Cannot overwrite a value (at line 5, column 9)", with the key named.

    It does not say which key is set twice: that is the key of line 5 (or of
    the line above where a multi-line value began), in the table above it.
    """
    import re  # only for a file with a mistake

    found = re.fullmatch(r"Cannot overwrite a value \(at line (\d+), column (\d+)\)", message)
    if found is None:
        return message
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[: int(found[1])]
    except (OSError, UnicodeDecodeError):
        return message
    key = table = None
    for line in reversed(lines):
        text = line.strip()
        if key is None and (assigned := re.match(r"([\w\-.\"' ]+?)\s*=", text)) is not None:
            key = assigned[1]
        elif key is not None and text.startswith("["):
            table = text.split("#", 1)[0].strip()
            break
    if key is None:
        return message
    where = f" of {table}" if table else ""
    return f"{key!r}{where} is set twice (at line {found[1]}, column {found[2]})"


def parse_config(data: Mapping[str, Any], *, base_dir: str, source: str | None = None) -> Config:
    """A ``Config`` from parsed TOML, or a ``ConfigError`` with every problem in it."""
    problems = [
        _unknown_top_level(key, value) for key, value in data.items() if key not in TOP_LEVEL_KEYS
    ]
    settings, found = _read_settings(data.get("procward", {}), base_dir)
    problems += found
    apps = data.get("apps", {})
    if not isinstance(apps, Mapping):
        problems.append(Problem(None, "apps", f"must be a table of apps, got {show(apps)}"))
        apps = {}
    # An app of a file runs in the file's directory unless it says otherwise, so
    # `cmd = "python3 app.py"` finds app.py next to procward.toml.
    drafts = [_read_app(name, table, base_dir, cwd=base_dir) for name, table in apps.items()]
    cap = settings.get("max_instances", MAX_INSTANCES)
    for draft in drafts:
        problems += draft.problems + _over_the_cap(draft, cap)
    problems += _dependency_problems({d.name: d.depends_on for d in drafts})
    if problems:
        raise ConfigError(problems, source)
    return Config({d.name: d.spec() for d in drafts}, source, max_instances=cap)


def parse_app(
    name: str, table: Mapping[str, Any], *, base_dir: str, max_instances: int | None = None
) -> AppSpec:
    """One app's spec, or a ``ConfigError`` with every problem of that app.

    Whether its ``depends_on`` names exist is a question for the whole file
    (``parse_config``); depending on itself is caught here. ``max_instances``
    caps ``instances`` (not checked when None: a saved app was checked when
    its file was loaded).
    """
    draft = _read_app(name, table, base_dir)
    if max_instances is not None:
        draft.problems += _over_the_cap(draft, max_instances)
    if draft.problems:
        raise ConfigError(draft.problems)
    return draft.spec()


def validate_app_name(name: str) -> str:
    """``name`` if it can name an app, else ``ValueError`` saying why (as ``validate_instance``)."""
    if not (0 < len(name) <= 64 and name[0] in _NAME_START and set(name) <= _NAME_CHARS):
        raise ValueError(
            f"invalid app name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise ValueError(
            f"{name!r} is reserved (the CLI uses it for every app); choose another name"
        )
    return name


class _Draft(Struct, frozen=False):
    """One app as far as it could be read: the fields that were valid, and the problems."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def depends_on(self) -> tuple[str, ...]:
        deps: tuple[str, ...] = self.fields.get("depends_on", ())
        return deps

    def spec(self) -> AppSpec:
        return AppSpec(name=self.name, **self.fields)


def _read_app(name: str, table: object, base_dir: str, *, cwd: str | None = None) -> _Draft:
    """One app's table; ``cwd`` is its working directory when the table names none."""
    draft = _Draft(name)
    try:
        validate_app_name(name)
    except ValueError as e:
        draft.problems.append(Problem(name, None, str(e)))
    if not isinstance(table, Mapping):
        message = f"must be a table ([apps.{name}] with at least cmd), got {show(table)}"
        draft.problems.append(Problem(name, None, message))
        return draft
    for key, value in table.items():
        _read_key(draft, key, value, base_dir)
    if "cwd" not in table and cwd is not None:
        draft.fields["cwd"] = cwd
    if "cmd" not in table:
        draft.problems.append(Problem(name, "cmd", "missing: the command to run is required"))
    if name in draft.depends_on:
        draft.problems.append(Problem(name, "depends_on", "an app cannot depend on itself"))
    if draft.fields.get("ready") is not None:
        draft.problems += _readiness_problems(draft)
    if draft.fields.get("watch") is not None:
        from procward.supervision.watch import with_cwd

        try:  # `watch = true` means the cwd, known only once every key is read
            draft.fields["watch"] = with_cwd(draft.fields["watch"], draft.fields.get("cwd"))
        except ValueError as e:
            if "cwd" not in draft.fields:
                draft.problems.append(Problem(name, "watch", str(e)))
    return draft


def _readiness_problems(draft: _Draft) -> list[Problem]:
    """A ready probe that could be answered by another process of the app is refused."""
    from procward.supervision.probe import why_it_cannot_judge

    probe = draft.fields["ready"]
    env = draft.fields.get("env", {})
    target = probe.target
    names = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", target))
    if names <= set(env):  # else it depends on the environment: checked at each spawn
        target = expand_arg(target, 0, {k: expand_instance(v, 0) for k, v in env.items()})
    surge = draft.fields.get("reload") is ReloadMode.SURGE
    why = why_it_cannot_judge(probe, draft.fields.get("sockets", {}), surge=surge, target=target)
    return [] if why is None else [Problem(draft.name, f"ready.{probe.kind.value}", why)]


def _read_key(draft: _Draft, key: str, value: object, base_dir: str) -> None:
    reader = _READERS.get(key)
    if reader is None:
        draft.problems.append(Problem(draft.name, key, unknown_key(key, _READERS, "an app")))
        return
    try:
        draft.fields[key] = reader(value, base_dir)
    except Nested as e:
        draft.problems += [Problem(draft.name, f"{key}.{sub}", msg) for sub, msg in e.problems]
    except ValueError as e:
        draft.problems.append(Problem(draft.name, key, str(e)))


def _read_settings(value: object, base_dir: str) -> tuple[dict[str, Any], list[Problem]]:
    """The ``[procward]`` table: settings of the file as a whole."""
    if not isinstance(value, Mapping):
        return {}, [Problem(None, "procward", f"must be a table, got {show(value)}")]
    try:
        return read_table(value, _SETTINGS, base_dir, where="[procward]"), []
    except Nested as e:
        return {}, [Problem(None, f"procward.{key}", message) for key, message in e.problems]


def _max_instances(value: object, base_dir: str) -> int:
    count = read_count(value, base_dir)
    if count < 1:
        raise ValueError(f"must be an integer >= 1, got {show(value)}")
    return count


_SETTINGS: dict[str, Callable[[object, str], object]] = {"max_instances": _max_instances}


def _over_the_cap(draft: _Draft, cap: int) -> list[Problem]:
    """A typo of 100000 instances would fork the machine to death: refused above the cap."""
    count = draft.fields.get("instances", 1)
    if count <= cap:
        return []
    message = (
        f"{count} is more than max_instances ({cap}); if you mean it, "
        f"raise it: [procward] max_instances = {count}"
    )
    return [Problem(draft.name, "instances", message)]


def _unknown_top_level(key: str, value: object) -> Problem:
    if isinstance(value, Mapping) and "cmd" in value:
        return Problem(None, key, f"unknown top-level key; did you mean [apps.{key}]?")
    return Problem(None, key, unknown_key(key, TOP_LEVEL_KEYS, "the file"))


# -- readers: (value, base_dir) -> field value, or ValueError with the message --


def _path(value: object, base_dir: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a path (a string), got {show(value)}")
    if not value or "\0" in value:
        raise ValueError(f"must be a non-empty path without NUL characters, got {value!r}")
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base_dir, value))


def _env(value: object, _base_dir: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of variables (NAME = "value"), got {show(value)}')
    problems = []
    for name, item in value.items():
        if not name or "=" in name or "\0" in name:
            problems.append((name, "is not a valid variable name"))
        elif not isinstance(item, str):
            hint = f' (quote it: "{show(item)}")' if isinstance(item, int | float) else ""
            problems.append((name, f"must be a string, got {show(item)}{hint}"))
        elif "\0" in item:
            problems.append((name, "must not contain NUL characters"))
    if problems:
        raise Nested(problems)
    return dict(value)


def _inherit_env(value: object) -> bool | tuple[str, ...]:
    """``true`` (the daemon's whole environment), ``false``, or names of variables."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(n, str) for n in value):
        bad = [n for n in value if not n or "=" in n or "\0" in n]
        if not bad:
            return tuple(value)
        raise ValueError(f"{bad[0]!r} is not a variable name")
    raise ValueError(
        'must be true, false, or an array of variable names like ["VIRTUAL_ENV"], '
        f"got {show(value)}"
    )


_SIGNAL_NAMES = [s.name.removeprefix("SIG") for s in signal.Signals]


def _signal(value: object, _base_dir: str) -> str:
    """``"TERM"`` from ``"TERM"``, ``"SIGTERM"``, ``"term"``, ``"15"`` or ``15``."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    try:
        if text.isascii() and text.isdigit():
            found = signal.Signals(int(text))
        else:
            found = signal.Signals["SIG" + text.upper().removeprefix("SIG")]
    except (ValueError, KeyError):
        hint = did_you_mean(text.upper().removeprefix("SIG"), _SIGNAL_NAMES) if text else ""
        raise ValueError(
            f"unknown signal {show(value)}{hint}; use a name like 'TERM', 'INT', 'HUP', 'QUIT' "
            "or 'USR1', or a signal number"
        ) from None
    return found.name.removeprefix("SIG")


def _depends_on(value: object, _base_dir: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f'must be an array of app names, like ["db"], got {show(value)}')
    seen: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str):
            raise ValueError(f"item {i} must be an app name (a string), got {show(name)}")
        if name in seen:
            raise ValueError(f"names {name!r} more than once")
        seen.append(name)
    return tuple(seen)


_BACKOFF_READERS: dict[str, Callable[[object, str], float]] = {
    "initial": read_duration,
    "multiplier": lambda value, _: _multiplier(value),
    "max": read_duration,
}


def _multiplier(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise ValueError(f"must be a number >= 1, got {show(value)}")
    return float(value)


def _backoff(value: object, base_dir: str) -> Backoff:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table with initial, multiplier and max, got {show(value)}")
    found: dict[str, Any] = read_table(value, _BACKOFF_READERS, base_dir, where="backoff")
    backoff = Backoff(**found)
    if "initial" in found and "max" in found and backoff.max < backoff.initial:
        message = f"must be >= initial ({show(value['initial'])}), got {show(value['max'])}"
        raise Nested([("max", message)])
    return backoff


def _commands(value: object, base_dir: str) -> dict[str, tuple[str, ...]]:
    """``{ migrate = "python manage.py migrate", shell = ["python", "-i"] }``."""
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of name = "command line", got {show(value)}')
    commands, problems = {}, []
    for name, cmd in value.items():
        if not (0 < len(name) <= 64 and name[0] in _NAME_START and set(name) <= _NAME_CHARS):
            problems.append((name, "is not a command name: 1-64 letters, digits, '_', '-', '.'"))
            continue
        try:
            commands[name] = read_cmd(cmd, base_dir)
        except ValueError as e:
            problems.append((name, str(e)))
    if problems:
        raise Nested(problems)
    return commands


_READERS: dict[str, Callable[[object, str], object]] = {
    "cmd": read_cmd,
    "cwd": _path,
    "env": _env,
    "env_file": _path,
    "inherit_env": lambda value, _: _inherit_env(value),
    "instances": read_count,
    "restart": read_choice(RestartMode),
    "reload": read_choice(ReloadMode),
    "backoff": _backoff,
    "max_restarts": read_count,
    "restart_window": read_duration,
    "min_uptime": read_duration,
    "min_start": read_duration,
    "stop_signal": _signal,
    "stop_timeout": read_duration,
    "depends_on": _depends_on,
    "autostart": read_flag,
    "merge_logs": read_flag,
    "log_time": read_flag,
    "log_format": lambda value, _: _log_format(value),
    "log_max_size": lambda value, _: _size(value),
    "log_backups": read_count,
    "ready": lambda value, base_dir: _probe().read_ready(value, base_dir),
    "health": lambda value, base_dir: _probe().read_health(value, base_dir),
    "sockets": lambda value, _: _sockets(value),
    "watch": lambda value, base_dir: _watch().read_watch(value, base_dir),
    "commands": _commands,
}

_LOG_FORMATS = ("text", "json")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
}


def _log_format(value: object) -> str:
    if isinstance(value, str) and value in _LOG_FORMATS:
        return value
    raise ValueError(f"must be 'text' or 'json', got {show(value)}")


def _size(value: object) -> int:
    """Bytes from 1048576, "512KB", "10MB" or "1GiB" (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
        unit = text[len(digits) :].strip()
        try:
            number = float(digits)
        except ValueError:
            number = -1.0
        if unit in _SIZE_UNITS and number > 0:
            return max(1, int(number * _SIZE_UNITS[unit]))
    raise ValueError(
        f"must be a size like '10MB' or '512KB', or a number of bytes, got {show(value)}"
    )


def _sockets(value: object) -> dict[str, str]:
    """``{ http = "127.0.0.1:8000", admin = "/run/app/admin.sock" }``: name -> address."""
    from procward.supervision.sockets import check_address

    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of name = "address", got {show(value)}')
    problems = []
    for name, address in value.items():
        if not name or ":" in name or not name.isprintable() or len(name) > 255:
            problems.append((name, "is not a socket name (printable, no ':', at most 255)"))
        elif not isinstance(address, str | int) or isinstance(address, bool):
            problems.append(
                (name, f"must be 'host:port' or a Unix socket path, got {show(address)}")
            )
        else:
            try:
                check_address(str(address))
            except ValueError as e:
                problems.append((name, str(e)))
    if problems:
        raise Nested(problems)
    return {name: str(address) for name, address in value.items()}


# Probes and watch mode are read only by configs that use them: a daemon
# whose apps have neither never loads their modules.
def _probe() -> Any:
    from procward.supervision import probe

    return probe


def _watch() -> Any:
    from procward.supervision import watch

    return watch


def _dependency_problems(deps: Mapping[str, tuple[str, ...]]) -> list[Problem]:
    """Unknown dependencies and cycles; a self-dependency was reported with its app."""
    problems = []
    for app, needs in deps.items():
        for dep in needs:
            if dep != app and dep not in deps:
                message = f"{dep!r} is not an app in this file{did_you_mean(dep, deps)}"
                problems.append(Problem(app, "depends_on", message))
    graph = {app: [d for d in needs if d in deps and d != app] for app, needs in deps.items()}
    for cycle in find_cycles(graph):
        problems.append(Problem(cycle[0], "depends_on", "dependency cycle: " + " -> ".join(cycle)))
    return problems
