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
import tomllib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from procward.kit._rpc import unfit_text
from procward.kit._structs import Struct, field
from procward.supervision.appkeys import NAME_CHARS, NAME_START, READERS
from procward.supervision.graph import find_cycles
from procward.supervision.spec import (
    AppSpec,
    ConfigError,
    Problem,
    ReloadMode,
    expand_arg,
    expand_instance,
)
from procward.supervision.values import (
    Nested,
    did_you_mean,
    read_count,
    read_flag,
    read_table,
    show,
    unknown_key,
)

if TYPE_CHECKING:
    from procward.supervision.clusterkeys import ClusterSettings

__all__ = [
    "MAX_INSTANCES",
    "MAX_TOTAL_INSTANCES",
    "Config",
    "ConfigError",
    "Problem",
    "load_config",
    "parse_app",
    "parse_config",
    "validate_app_name",
]

TOP_LEVEL_KEYS = ("apps", "procward", "hooks", "daemon")
MAX_INSTANCES = 256  # of one app, unless a file's [procward] max_instances says more
MAX_TOTAL_INSTANCES = 10_000  # of all apps together ([procward] max_total_instances)
LIMIT_CEILING = 100_000  # what either setting may say: beyond, one machine cannot run them
RESERVED_NAMES = frozenset({"all"})  # the CLI's "every app"


class Config(Struct):
    apps: dict[str, AppSpec]  # in file order
    source: str | None = None
    max_instances: int = MAX_INSTANCES  # the file's cap on an app's instances ([procward])
    # The daemon's cap on all instances, if the file sets it ([procward]).
    max_total_instances: int | None = None
    # For `procward run -c` in the foreground: mirror the output, write the log files.
    console_logs: bool = False
    log_files: bool = True
    # [daemon.cluster]: this daemon in a fleet (procward.fleet), when enabled.
    cluster: ClusterSettings | None = None

    def total_instances(self) -> int:
        return sum(spec.instances for spec in self.apps.values())

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """``{app: depends_on}``, the input of ``procward.supervision.graph``."""
        return {name: spec.depends_on for name, spec in self.apps.items()}


# The names of the secrets in the store, asked only of a file that refers to
# one; None: no store, or it cannot be read now (unknown names are not checked:
# the apps that use them fail at their start, saying why).
SecretNames = Callable[[], "frozenset[str] | None"]


def load_config(path: str, *, secret_names: SecretNames | None = None) -> Config:
    """Read and check a TOML file; ``ConfigError`` (naming ``path``) if anything is wrong."""
    data = _read_toml(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    return parse_config(data, base_dir=base_dir, source=path, secret_names=secret_names)


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


def parse_config(
    data: Mapping[str, Any],
    *,
    base_dir: str,
    source: str | None = None,
    secret_names: SecretNames | None = None,
) -> Config:
    """A ``Config`` from parsed TOML, or a ``ConfigError`` with every problem in it."""
    problems = [
        _unknown_top_level(key, value) for key, value in data.items() if key not in TOP_LEVEL_KEYS
    ]
    settings, found = _read_settings(data.get("procward", {}), base_dir)
    problems += found
    cluster, found = _read_cluster(data.get("daemon", {}), base_dir, source)
    problems += found
    apps = data.get("apps", {})
    if not isinstance(apps, Mapping):
        problems.append(Problem(None, "apps", f"must be a table of apps, got {show(apps)}"))
        apps = {}
    # An app of a file runs in the file's directory unless it says otherwise, so
    # `cmd = "python3 app.py"` finds app.py next to procward.toml.
    known = _asked_once(secret_names)
    drafts = [
        _read_app(name, table, base_dir, cwd=base_dir, secret_names=known)
        for name, table in apps.items()
    ]
    if "hooks" in data:
        problems += _give_file_hooks(data["hooks"], base_dir, drafts)
    cap = settings.get("max_instances", MAX_INSTANCES)
    total = settings.get("max_total_instances")
    for draft in drafts:
        problems += draft.problems + _over_the_cap(draft, cap)
    problems += _dependency_problems({d.name: d.depends_on for d in drafts})
    problems += _over_the_total(drafts, total or MAX_TOTAL_INSTANCES)
    problems += _placed_without_fleet(drafts, cluster)
    if problems:
        raise ConfigError(problems, source)
    apps = {d.name: d.spec() for d in drafts}
    return Config(
        apps,
        source,
        max_instances=cap,
        max_total_instances=total,
        console_logs=settings.get("console_logs", False),
        log_files=settings.get("log_files", True),
        cluster=cluster,
    )


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
    if not (0 < len(name) <= 64 and name[0] in NAME_START and set(name) <= NAME_CHARS):
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


def _read_app(
    name: str,
    table: object,
    base_dir: str,
    *,
    cwd: str | None = None,
    secret_names: SecretNames | None = None,
) -> _Draft:
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
        unfit = list(_unfit_text(value, str(key))) if key in draft.fields else []
        if unfit:  # what its reader let through must still not reach an exec or a file
            del draft.fields[key]
            draft.problems += [Problem(name, where, why) for where, why in unfit]
    env = draft.fields.get("env", {})
    if "secrets" in draft.fields or not all(isinstance(v, str) for v in env.values()):
        from procward.supervision.secretrefs import gather

        known = secret_names() if secret_names is not None else None
        draft.problems += [Problem(name, k, why) for k, why in gather(draft.fields, known)]
    if "cwd" not in table and cwd is not None:
        draft.fields["cwd"] = cwd
    if "cmd" not in table:
        draft.problems.append(Problem(name, "cmd", "missing: the command to run is required"))
    if name in draft.depends_on:
        draft.problems.append(Problem(name, "depends_on", "an app cannot depend on itself"))
    draft.problems += _account_problems(draft)
    draft.problems += _recycling_problems(draft, table)
    if draft.fields.get("ready") is not None:
        draft.problems += _readiness_problems(draft)
    if draft.fields.get("watch") is not None:
        from procward.supervision.watchrules import with_cwd

        try:  # `watch = true` means the cwd, known only once every key is read
            draft.fields["watch"] = with_cwd(draft.fields["watch"], draft.fields.get("cwd"))
        except ValueError as e:
            if "cwd" not in draft.fields:
                draft.problems.append(Problem(name, "watch", str(e)))
    return draft


def _give_file_hooks(value: object, base_dir: str, drafts: list[_Draft]) -> list[Problem]:
    """The file's ``[hooks]`` added to the apps they are for (hooks.py); the problems."""
    from procward.supervision.hooks import applying
    from procward.supervision.hookskeys import read_file_hooks

    try:
        shared = read_file_hooks(value, base_dir)
    except Nested as e:
        return [Problem(None, f"hooks.{key}", message) for key, message in e.problems]
    except ValueError as e:
        return [Problem(None, "hooks", str(e))]
    names = [draft.name for draft in drafts]
    problems = [
        Problem(
            None,
            f"hooks.{hook.name}.apps",
            f"{app!r} is not an app in this file{did_you_mean(app, names)}",
        )
        for hook, apps in shared.values()
        for app in apps or ()
        if app not in names
    ]
    for draft in drafts:
        hooks = applying(shared, draft.name, draft.fields.get("hooks", ()))
        if hooks:
            draft.fields["hooks"] = hooks
    return problems


def _recycling_problems(draft: _Draft, table: Mapping[str, Any]) -> list[Problem]:
    """``max_age`` of 0 (a replacement loop), a ``max_age_jitter`` with no ``max_age``."""
    found = []
    if "max_age_jitter" in draft.fields and "max_age" not in table:
        message = "has no max_age to vary: set max_age too, or remove max_age_jitter"
        found.append(Problem(draft.name, "max_age_jitter", message))
    if draft.fields.get("max_age") == 0:
        message = f"must be more than 0s, got {show(table['max_age'])}"
        found.append(Problem(draft.name, "max_age", message))
    return found


def _account_problems(draft: _Draft) -> list[Problem]:
    """A user that does not exist, or that this daemon cannot become (accounts.py)."""
    if not {"user", "group", "log_owner"} & draft.fields.keys():
        return []
    from procward.supervision.accounts import problems

    return [Problem(draft.name, key, why) for key, why in problems(draft.fields)]


def _asked_once(secret_names: SecretNames | None) -> SecretNames | None:
    """``secret_names``, asked at most once for a whole file."""
    if secret_names is None:
        return None
    asked: list[frozenset[str] | None] = []

    def names() -> frozenset[str] | None:
        if not asked:
            asked.append(secret_names())
        return asked[0]

    return names


def _unfit_text(value: object, where: str) -> Iterator[tuple[str, str]]:
    """Each string in ``value`` (keys too) with NUL or a lone surrogate: (its key path, why).

    Such text cannot be passed to exec, opened as a path or saved as UTF-8:
    caught here, the app is refused with its key instead of failing at spawn.
    """
    if isinstance(value, str):
        why = unfit_text(value)
        if why is not None:
            yield where, why
    elif isinstance(value, Mapping):
        for key, item in value.items():
            why = unfit_text(key) if isinstance(key, str) else None
            if why is not None:
                yield where, f"a name {why}"
            else:
                yield from _unfit_text(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _unfit_text(item, f"{where}[{index}]")


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
    reader = READERS.get(key)
    if reader is None:
        draft.problems.append(Problem(draft.name, key, unknown_key(key, READERS, "an app")))
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


def _read_cluster(
    value: object, base_dir: str, source: str | None
) -> tuple[ClusterSettings | None, list[Problem]]:
    """The ``[daemon]`` table: ``cluster`` (clusterkeys.py), the fleet's settings."""
    if value == {}:
        return None, []  # the usual file: clusterkeys.py is not even imported
    from procward.supervision.clusterkeys import read_cluster

    try:
        cluster = read_cluster(value, base_dir)
    except Nested as e:
        return None, [Problem(None, f"daemon.{key}", message) for key, message in e.problems]
    except ValueError as e:
        return None, [Problem(None, "daemon", str(e))]
    if cluster is None:
        return None, []
    from procward.kit._structs import replace

    return replace(cluster, source=source), []


def _placed_without_fleet(drafts: list[_Draft], cluster: ClusterSettings | None) -> list[Problem]:
    """``placement`` means "somewhere in the fleet": without one it has no meaning."""
    if cluster is not None and cluster.enabled:
        return []
    message = (
        "needs a fleet: this file has no [daemon.cluster] with enabled = true, and "
        "without one the app would run on every machine that loads the file"
    )
    return [Problem(d.name, "placement", message) for d in drafts if "placement" in d.fields]


def _max_instances(value: object, base_dir: str) -> int:
    count = read_count(value, base_dir)
    if not 1 <= count <= LIMIT_CEILING:
        raise ValueError(f"must be an integer from 1 to {LIMIT_CEILING}, got {show(value)}")
    return count


_SETTINGS: dict[str, Callable[[object, str], object]] = {
    "max_instances": _max_instances,
    "max_total_instances": _max_instances,
    # Read by `procward run -c FILE` in the foreground only (`--logs`, `--no-log-files`).
    "console_logs": read_flag,
    "log_files": read_flag,
}


def _over_the_total(drafts: list[_Draft], total: int) -> list[Problem]:
    """The file alone asks for more instances than the daemon may run in all."""
    count = sum(draft.fields.get("instances", 1) for draft in drafts)
    if count <= total:
        return []
    message = (
        f"its apps have {count} instances in all, more than max_total_instances ({total}); "
        f"if you mean it, raise it: [procward] max_total_instances = {count}"
    )
    return [Problem(None, "instances", message)]


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
