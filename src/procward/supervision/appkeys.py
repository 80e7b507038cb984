"""The reader of each key of an ``[apps.<name>]`` table.

Each reader takes ``(value, base_dir)`` and returns the field of ``AppSpec``
it becomes, or raises ``ValueError`` (``Nested`` for a table's sub-keys) with
a message that quotes the value as TOML spells it; ``config.py`` runs them
all and collects the problems. Readers shared with other tables (durations,
counts, commands) are in ``values.py``; probes and watch mode read their own
tables, loaded only by configs that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from procward.kit import _signals as signals
from procward.supervision.spec import Backoff, ReloadMode, RestartMode
from procward.supervision.values import (
    Nested,
    did_you_mean,
    read_choice,
    read_cmd,
    read_count,
    read_duration,
    read_flag,
    read_path,
    read_size,
    read_table,
    show,
)

__all__ = ["NAME_CHARS", "NAME_START", "READERS"]

NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
NAME_CHARS = NAME_START | frozenset("_-.")


def _env(value: object, _base_dir: str) -> dict[str, Any]:
    """``NAME = "value"``, or ``NAME = { secret = "db_url" }`` (a ``SecretRef``, for config.py)."""
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of variables (NAME = "value"), got {show(value)}')
    problems = []
    found: dict[str, Any] = {}
    for name, item in value.items():
        if not name or "=" in name or "\0" in name:
            problems.append((name, "is not a valid variable name"))
        elif isinstance(item, Mapping):
            try:
                found[name] = _secret_ref(item)
            except ValueError as e:
                problems.append((f"{name}.secret" if set(item) == {"secret"} else name, str(e)))
        elif not isinstance(item, str):
            hint = f' (quote it: "{show(item)}")' if isinstance(item, int | float) else ""
            problems.append((name, f"must be a string, got {show(item)}{hint}"))
        elif "\0" in item:
            problems.append((name, "must not contain NUL characters"))
        else:
            found[name] = item
    if problems:
        raise Nested(problems)
    return found


def _secret_ref(item: Mapping[str, object]) -> object:
    """``{ secret = "db_url" }``: exactly that one key, naming a secret."""
    from procward.supervision import secretrefs

    if set(item) != {"secret"}:
        keys = ", ".join(repr(k) for k in item) or "no keys"
        raise ValueError(
            'must be a string, or { secret = "NAME" } to take the value from a secret, '
            f"got a table with {keys}"
        )
    return secretrefs.SecretRef(secretrefs.check_secret_name(item["secret"]))


def _secrets(value: object, _base_dir: str) -> dict[str, str]:
    """``["stripe_key"]`` (as STRIPE_KEY) or ``{ STRIPE = "stripe_key" }``: variable -> name."""
    from procward.supervision import secretrefs

    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            try:
                name = secretrefs.check_secret_name(item)
            except ValueError as e:
                raise ValueError(f"item {i}: {e}") from None
            pairs.append((secretrefs.variable_for(name), name))
    elif isinstance(value, Mapping):
        for variable, name in value.items():
            if not variable or "=" in variable or "\0" in variable:
                problems.append((variable, "is not a valid variable name"))
                continue
            try:
                pairs.append((variable, secretrefs.check_secret_name(name)))
            except ValueError as e:
                problems.append((variable, str(e)))
    else:
        raise ValueError(
            'must be an array of secret names, like ["stripe_key"], or a table of '
            f'VARIABLE = "secret name", got {show(value)}'
        )
    found: dict[str, str] = {}
    for variable, name in pairs:
        if found.get(variable) == name:
            raise ValueError(f"names {name!r} more than once")
        if variable in found:
            problems.append((variable, f"is given by both {found[variable]!r} and {name!r}"))
        found[variable] = name
    if problems:
        raise Nested(problems)
    return found


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


def _signal(value: object, _base_dir: str) -> str:
    """``"TERM"`` from ``"TERM"``, ``"SIGTERM"``, ``"term"``, ``"15"`` or ``15``."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    try:
        return signals.name(signals.number(text))
    except ValueError:
        hint = did_you_mean(text.upper().removeprefix("SIG"), signals.names()) if text else ""
        raise ValueError(
            f"unknown signal {show(value)}{hint}; use a name like 'TERM', 'INT', 'HUP', 'QUIT' "
            "or 'USR1', or a signal number"
        ) from None


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
        if not (0 < len(name) <= 64 and name[0] in NAME_START and set(name) <= NAME_CHARS):
            problems.append((name, "is not a command name: 1-64 letters, digits, '_', '-', '.'"))
            continue
        try:
            commands[name] = read_cmd(cmd, base_dir)
        except ValueError as e:
            problems.append((name, str(e)))
    if problems:
        raise Nested(problems)
    return commands


READERS: dict[str, Callable[[object, str], object]] = {
    "cmd": read_cmd,
    "cwd": read_path,
    "env": _env,
    "env_file": read_path,
    "secrets": _secrets,
    "secrets_as": lambda value, _: _secrets_as(value),
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
    "log_max_size": lambda value, _: read_size(value),
    "log_backups": read_count,
    "ready": lambda value, base_dir: _probe().read_ready(value, base_dir),
    "health": lambda value, base_dir: _probe().read_health(value, base_dir),
    "sockets": lambda value, _: _sockets(value),
    "watch": lambda value, base_dir: _watch().read_watch(value, base_dir),
    "commands": _commands,
    "user": lambda value, base_dir: _accounts().read_account(value, base_dir),
    "group": lambda value, base_dir: _accounts().read_account(value, base_dir),
    "umask": lambda value, base_dir: _accounts().read_umask(value, base_dir),
    "log_owner": lambda value, base_dir: _accounts().read_log_owner(value, base_dir),
    "limits": lambda value, base_dir: _rlimits().read_limits(value, base_dir),
    "nice": lambda value, base_dir: _rlimits().read_nice(value, base_dir),
    "oom_score_adj": lambda value, base_dir: _rlimits().read_oom_score_adj(value, base_dir),
    "max_memory": lambda value, _: read_size(value),
    "memory_max": lambda value, _: read_size(value),
    "memory_high": lambda value, _: read_size(value),
    "cpu_max": lambda value, _: _cpu_share(value),
    "pids_max": lambda value, _: _pids_max(value),
    "cron_restart": lambda value, _: _cron(value),
    "max_age": read_duration,
    "max_age_jitter": read_duration,
    "hooks": lambda value, base_dir: _hooks().read_app_hooks(value, base_dir),
    "placement": lambda value, base_dir: _clusterkeys().read_placement(value, base_dir),
}

_LOG_FORMATS = ("text", "json")
_SECRETS_AS = ("env", "files")


def _secrets_as(value: object) -> str:
    if isinstance(value, str) and value in _SECRETS_AS:
        return value
    raise ValueError(f"must be 'env' or 'files', got {show(value)}")


def _log_format(value: object) -> str:
    if isinstance(value, str) and value in _LOG_FORMATS:
        return value
    raise ValueError(f"must be 'text' or 'json', got {show(value)}")


def _cpu_share(value: object) -> float:
    """``"50%"`` of one core, ``"200%"`` of two: the cgroup's ``cpu.max``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = -1.0
        if 0 < number <= 100_000:
            return number
    raise ValueError(f"must be a share of one core like '50%' or '200%', got {show(value)}")


def _pids_max(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"must be a number of processes, at least 1, got {show(value)}")


def _cron(value: object) -> str:
    """``"0 3 * * *"`` or ``"@daily"``: checked here, kept as written (recycling.py)."""
    from procward.supervision.cronexpr import parse_cron  # only for apps that use it

    forms = (
        "use 5 fields (minute hour day-of-month month day-of-week) like '0 3 * * *', "
        "or @hourly, @daily, @weekly, @monthly, @yearly"
    )
    if not isinstance(value, str):
        raise ValueError(f"must be a cron expression (a string), got {show(value)}: {forms}")
    try:
        return parse_cron(value).text
    except ValueError as e:
        raise ValueError(f"is not a cron expression: {show(value)} ({e}); {forms}") from None


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
    from procward.supervision import watchrules

    return watchrules


# Only for apps that set them (a root daemon's), like probes.
def _accounts() -> Any:
    from procward.supervision import accounts

    return accounts


def _rlimits() -> Any:
    from procward.supervision import rlimits

    return rlimits


def _hooks() -> Any:
    from procward.supervision import hookskeys

    return hookskeys


def _clusterkeys() -> Any:
    from procward.supervision import clusterkeys

    return clusterkeys
