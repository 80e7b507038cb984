"""What an app is, once its config is valid, and how one instance of it is launched.

``AppSpec`` is the checked form of one ``[apps.<name>]`` table (``config.py``
builds it and reports every problem); the state machine, the restart policy
and the process shell read nothing else. It is frozen: a config reload builds
new specs and compares them, it never edits one in place.

``launch(spec, index, base_env)`` turns a spec into the exact argv, environment
and directory of instance ``index``. It is pure apart from reading the app's
``env_file``, which is read at every launch on purpose, so that editing secrets
takes effect at the next restart without a config reload. The expansion rules,
in one pass over each argument, so nothing is expanded twice:

- ``{instance}`` is the instance index; ``{{`` and ``}}`` are literal braces;
  any other brace is left alone (``awk '{print $1}'`` needs no escaping).
- ``${VAR}`` and ``$VAR`` are taken from the instance's final environment, as
  systemd does in ``ExecStart=``; ``$$`` is a literal ``$``; an unknown
  variable is empty; a ``$`` not followed by a name is literal. Unlike
  systemd, ``$VAR`` is never split into several arguments.
- ``env`` values expand ``{instance}`` (and ``{{``/``}}``) but not ``$``:
  they are values, not commands.

``Problem`` and ``ConfigError`` live here rather than in ``config.py`` (which
re-exports them, and is where callers import them from) because ``launch``
raises them for a bad ``env_file`` and ``config.py`` imports this module, not
the other way round.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from procward.kit._durations import format_duration, parse_duration
from procward.kit._errors import InvalidParams
from procward.kit._structs import Struct, field

if TYPE_CHECKING:
    from procward.supervision.clusterkeys import Placement
    from procward.supervision.hooks import Hook
    from procward.supervision.probe import Probe
    from procward.supervision.watchrules import Watch

__all__ = [
    "AppSpec",
    "Backoff",
    "ConfigError",
    "Confinement",
    "Launch",
    "Problem",
    "ReloadMode",
    "RestartMode",
    "expand_arg",
    "expand_instance",
    "launch",
    "parse_env_file",
    "placeholder",
    "read_env_file",
    "variables_in",
]


class RestartMode(enum.StrEnum):
    ON_FAILURE = "on-failure"
    ALWAYS = "always"
    NEVER = "never"


class ReloadMode(enum.StrEnum):
    """How ``reload`` replaces an instance (``supervisor.Supervisor.reload``)."""

    ROLLING = "rolling"  # stop it, start it, wait until ready; one instance at a time
    SURGE = "surge"  # start the replacement, wait until ready, then stop the old one


class Backoff(Struct):
    """Delay before restart ``n`` (from 0): ``min(initial * multiplier**n, max)`` seconds."""

    initial: float = 1.0
    multiplier: float = 2.0
    max: float = 30.0


class AppSpec(Struct):
    name: str
    cmd: tuple[str, ...]
    cwd: str | None = None
    # A plain dict so that it serialises as is; nothing may mutate it.
    env: Mapping[str, str] = field(default_factory=dict)
    env_file: str | None = None
    # Variable -> name of a secret (secretrefs.py): names only, never a value.
    secrets: Mapping[str, str] = field(default_factory=dict)
    secrets_as: str = "env"  # or "files": in $CREDENTIALS_DIRECTORY (credentials.py)
    # The daemon's variables passed on besides the clean base (environment.py):
    # True for all of them, or some names.
    inherit_env: bool | tuple[str, ...] = False
    instances: int = 1
    restart: RestartMode = RestartMode.ON_FAILURE
    reload: ReloadMode = ReloadMode.ROLLING
    backoff: Backoff = Backoff()
    max_restarts: int = 5
    restart_window: float = 60.0
    min_uptime: float = 10.0
    min_start: float = 1.0
    stop_signal: str = "TERM"
    stop_timeout: float = 10.0
    depends_on: tuple[str, ...] = ()
    autostart: bool = True
    merge_logs: bool = False  # stdout and stderr into one file, <n>.log
    log_time: bool = False  # prefix every line with the time it was read
    log_format: str = "text"  # or "json": one object per line
    log_max_size: int = 10 * 1024 * 1024  # bytes; rotate past this, at a line boundary
    log_backups: int = 5
    ready: Probe | None = None  # when a new instance counts as running
    health: Probe | None = None  # checked while it runs; failing ones restart
    sockets: Mapping[str, str] = field(default_factory=dict)  # name -> address, held by us
    watch: Watch | None = None  # reload when these files change (watching.py)
    # One-off commands operators may run in the app's environment (``procward exec``).
    commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Whose its processes are, and what they may use (accounts.py, rlimits.py); applied
    # before the exec by spawnshim.py.
    user: str | int | None = None
    group: str | int | None = None
    umask: int | None = None
    log_owner: str = "daemon"  # or "app": its log files are chowned to ``user``
    limits: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # -1: unlimited
    nice: int | None = None
    oom_score_adj: int | None = None

    @property
    def confined(self) -> bool:
        """Whether its processes start through ``spawnshim.py`` (confinement.py)."""
        return (
            self.user is not None
            or self.umask is not None
            or bool(self.limits)
            or self.nice is not None
            or self.oom_score_adj is not None
        )

    # Restart an instance whose memory stays above this many bytes (memoryguard.py).
    max_memory: int | None = None
    # cgroup limits (cgroups.py), applied where the controller is delegated.
    memory_max: int | None = None  # bytes
    memory_high: int | None = None  # bytes
    cpu_max: float | None = None  # percent of one core
    pids_max: int | None = None
    # Recycling (recycling.py): restart at the times of a cron expression (its text,
    # checked by config.py), and replace an instance older than max_age (+ up to
    # max_age_jitter; None: a tenth of max_age), one at a time, by ``reload``.
    cron_restart: str | None = None
    max_age: float | None = None
    max_age_jitter: float | None = None
    # Commands to run and webhooks to POST when its instances crash, exit... (hooks.py).
    hooks: tuple[Hook, ...] = ()
    # Run where the fleet's leader assigns it, not on every node (procward.fleet).
    placement: Placement | None = None

    @property
    def recycled(self) -> bool:
        """Whether it has ``cron_restart`` or ``max_age`` (recycling.py loads for it)."""
        return self.cron_restart is not None or self.max_age is not None

    def to_table(self) -> dict[str, Any]:
        """The ``[apps.<name>]`` table that ``parse_app`` turns back into this spec."""
        table: dict[str, Any] = {"cmd": list(self.cmd)}
        if self.cwd is not None:
            table["cwd"] = self.cwd
        table["env"] = dict(self.env)
        if self.env_file is not None:
            table["env_file"] = self.env_file
        if self.secrets:
            table["secrets"] = dict(self.secrets)
        if self.secrets_as != "env":
            table["secrets_as"] = self.secrets_as
        if isinstance(self.inherit_env, tuple):
            table["inherit_env"] = list(self.inherit_env)
        elif self.inherit_env:
            table["inherit_env"] = True
        backoff = {
            "initial": _duration_value(self.backoff.initial),
            "multiplier": float(self.backoff.multiplier),
            "max": _duration_value(self.backoff.max),
        }
        return (
            table
            | {
                "instances": self.instances,
                "restart": str(self.restart),
                "reload": str(self.reload),
                "backoff": backoff,
                "max_restarts": self.max_restarts,
                "restart_window": _duration_value(self.restart_window),
                "min_uptime": _duration_value(self.min_uptime),
                "min_start": _duration_value(self.min_start),
                "stop_signal": self.stop_signal,
                "stop_timeout": _duration_value(self.stop_timeout),
                "depends_on": list(self.depends_on),
                "autostart": self.autostart,
                "merge_logs": self.merge_logs,
                "log_time": self.log_time,
                "log_format": self.log_format,
                "log_max_size": self.log_max_size,
                "log_backups": self.log_backups,
            }
            | self._probe_tables()
            | self._process_settings()
            | ({} if self.placement is None else {"placement": self.placement.as_dict()})
        )

    def _process_settings(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            key: value
            for key in ("user", "group", "umask", "nice", "oom_score_adj")
            if (value := getattr(self, key)) is not None
        }
        if self.log_owner != "daemon":
            table["log_owner"] = self.log_owner
        if self.limits:
            table["limits"] = {name: _limit_value(*pair) for name, pair in self.limits.items()}
        return table

    def _probe_tables(self) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        if self.ready is not None:
            tables["ready"] = self.ready.to_table(health=False)
        if self.health is not None:
            tables["health"] = self.health.to_table(health=True)
        if self.sockets:
            tables["sockets"] = dict(self.sockets)
        if self.watch is not None:
            tables["watch"] = self.watch.to_table()
        if self.commands:
            tables["commands"] = {name: list(argv) for name, argv in self.commands.items()}
        for key in ("max_memory", "memory_max", "memory_high", "pids_max"):
            if getattr(self, key) is not None:
                tables[key] = getattr(self, key)
        if self.cpu_max is not None:
            tables["cpu_max"] = f"{self.cpu_max:g}%"
        if self.cron_restart is not None:
            tables["cron_restart"] = self.cron_restart
        for key in ("max_age", "max_age_jitter"):
            if (seconds := getattr(self, key)) is not None:
                tables[key] = _duration_value(seconds)
        if self.hooks:
            tables["hooks"] = {hook.name: hook.to_table() for hook in self.hooks}
        return tables


def _limit_value(soft: int, hard: int) -> int | str | list[int | str]:
    """As ``limits`` spells it: one value for both, ``"unlimited"`` for -1."""
    shown = ["unlimited" if value == -1 else value for value in (soft, hard)]
    return shown[0] if soft == hard else shown


def _duration_value(seconds: float) -> str | float:
    """``"1m30s"`` when that reads back exactly, else the number (e.g. ``0.0001``)."""
    text = format_duration(seconds)
    return text if parse_duration(text) == seconds else float(seconds)


class Confinement(Struct):
    """What the shim applies before the exec; None fields are left as the daemon has them."""

    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()
    umask: int | None = None
    limits: tuple[tuple[str, int, int], ...] = ()  # (resource, soft, hard); -1: unlimited
    nice: int | None = None
    oom_score_adj: int | None = None


class Launch(Struct):
    """One instance, ready to spawn: nothing left to expand.

    Its ``env`` holds secret values only when it was made to spawn (see
    ``launch``): such a ``Launch`` is not kept once the process runs.
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None
    pass_fds: tuple[int, ...] = ()  # daemon fds given to the process as fds 3, 4, …
    # Limits and identity applied before the exec (spawnshim.py); None: a plain spawn.
    confine: Confinement | None = None


def launch(
    spec: AppSpec,
    index: int,
    base_env: Mapping[str, str],
    *,
    notify_socket: str | None = None,
    secret_env: Mapping[str, str] | None = None,
    credentials: str | None = None,
) -> Launch:
    """The argv, environment and cwd of instance ``index`` of ``spec``.

    The environment is, later entries winning: ``base_env`` (the clean base
    of ``environment.py``), the ``env_file``, ``spec.env``, the app's secrets,
    then ``PROCWARD_APP`` and ``PROCWARD_INDEX`` (0, 1, ...), and
    ``NOTIFY_SOCKET`` for an app whose readiness probe is ``notify``.

    Secrets are shown, not resolved, unless given: with ``secrets_as =
    "env"`` each secret variable reads ``<secret:NAME>`` unless
    ``secret_env`` has its value; with ``"files"``, ``CREDENTIALS_DIRECTORY``
    is ``credentials`` (the directory written for this spawn) or, for a view,
    lists the secrets' names. The argv is expanded with the shown values in
    either case: a secret never reaches a command line, where ``ps`` shows it
    (config.py refuses a ``$VAR`` of one there).
    """
    if index < 0:
        raise ValueError(f"instance index must be >= 0, got {index}")
    env = dict(base_env)
    if spec.env_file is not None:
        env.update(read_env_file(spec.env_file, app=spec.name))
    env.update((key, expand_instance(value, index)) for key, value in spec.env.items())
    if spec.secrets:
        env.update(_shown_secrets(spec, credentials))
    env["PROCWARD_APP"] = spec.name
    env["PROCWARD_INDEX"] = str(index)
    if notify_socket is not None and spec.ready is not None and spec.ready.kind == "notify":
        env["NOTIFY_SOCKET"] = notify_socket
    argv = tuple(expand_arg(arg, index, env) for arg in spec.cmd)
    if secret_env and spec.secrets_as == "env":
        env.update((key, secret_env[key]) for key in spec.secrets)
    return Launch(argv=argv, env=env, cwd=spec.cwd)


def _shown_secrets(spec: AppSpec, credentials: str | None) -> dict[str, str]:
    """The secrets' variables as a view shows them (``credentials``: the real directory)."""
    if spec.secrets_as == "files":
        names = ", ".join(sorted(set(spec.secrets.values())))
        return {"CREDENTIALS_DIRECTORY": credentials or f"<secret files: {names}>"}
    return {key: placeholder(name) for key, name in spec.secrets.items()}


def placeholder(name: str) -> str:
    """What is shown in place of the value of secret ``name``, wherever it would be."""
    return f"<secret:{name}>"


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ARG_TOKEN = re.compile(rf"\$\$|\$\{{({_NAME})\}}|\$({_NAME})|\{{\{{|\}}\}}|\{{instance\}}")
_ENV_TOKEN = re.compile(r"\{\{|\}\}|\{instance\}")
_LITERAL = {"$$": "$", "{{": "{", "}}": "}"}


def expand_arg(arg: str, index: int, env: Mapping[str, str]) -> str:
    """One argv template with ``{instance}``, ``${VAR}``, ``$VAR``, ``$$``, ``{{``, ``}}``."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in _LITERAL:
            return _LITERAL[token]
        if token == "{instance}":
            return str(index)
        return env.get(match.group(1) or match.group(2), "")

    return _ARG_TOKEN.sub(replace, arg)


def variables_in(arg: str) -> list[str]:
    """The names of the ``$VAR`` and ``${VAR}`` that ``expand_arg`` would fill into ``arg``."""
    return [m.group(1) or m.group(2) for m in _ARG_TOKEN.finditer(arg) if m.group(1) or m.group(2)]


def expand_instance(value: str, index: int) -> str:
    """An ``env`` value with ``{instance}``, ``{{`` and ``}}`` expanded; ``$`` is kept."""
    return _ENV_TOKEN.sub(lambda m: _LITERAL.get(m.group(0), str(index)), value)


def read_env_file(path: str, *, app: str) -> dict[str, str]:
    """The variables of ``path``; a ``ConfigError`` naming ``app`` and the file if it is bad."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        reason = e.strerror or str(e)
        raise ConfigError([Problem(app, "env_file", f"cannot read {path}: {reason}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(app, "env_file", f"{path} is not UTF-8 text")]) from None
    try:
        return parse_env_file(text)
    except ValueError as e:
        raise ConfigError([Problem(app, "env_file", f"{path}, {e}")]) from None


_ENV_NAME = re.compile(_NAME)


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, blank lines, ``export`` and quotes allowed.

    Values are taken literally (no ``$`` expansion, no inline comments) except
    that one pair of matching quotes around a value is removed, and inside
    double quotes ``\\"``, ``\\\\`` and ``\\n`` are escapes.
    """
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.fullmatch(key):
            raise ValueError(f"line {number}: expected KEY=VALUE, got {raw.strip()!r}")
        try:
            out[key] = _unquote(value.strip())
        except ValueError as e:
            raise ValueError(f"line {number}: {e}") from None
    return out


_ESCAPES = re.compile(r"\\([\\\"n])")


def _unquote(value: str) -> str:
    if not value or value[0] not in "'\"":
        return value
    quote = value[0]
    if len(value) < 2 or value[-1] != quote:
        raise ValueError(f"unterminated {quote} quote in {value!r}")
    inner = value[1:-1]
    if quote == "'":
        return inner
    return _ESCAPES.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), inner)


class Problem(Struct):
    """One thing wrong in a config, located as ``apps.<app>.<key>``."""

    app: str | None
    key: str | None
    message: str

    @property
    def location(self) -> str:
        parts = []
        if self.app is not None:
            name = self.app if _BARE_KEY.fullmatch(self.app) else f'"{self.app}"'
            parts += ["apps", name]
        if self.key is not None:
            parts.append(self.key)
        return ".".join(parts)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, str | None]:
        return {"app": self.app, "key": self.key, "message": self.message}


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # what TOML writes without quotes


class ConfigError(InvalidParams):
    """A config (or env file) with problems; the message lists every one of them.

    A subclass of ``InvalidParams`` so that a ``reloadConfig`` call with a bad
    file is answered with JSON-RPC -32602 and the problems in ``data``.
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        message = "\n".join(f"{prefix}{problem}" for problem in self.problems)
        data = {"source": source, "problems": [p.as_dict() for p in self.problems]}
        super().__init__(message, data)
