"""Apps that refer to secrets: the contract with the store, and turning references into values.

An app names secrets (``env = { DATABASE_URL = { secret = "db_url" } }``,
``secrets = ["stripe_key"]``); its ``AppSpec.secrets`` maps each variable to
the secret's name, and nothing else of the daemon ever holds a value. The
values come from a ``SecretSource`` (the encrypted store, a fake in tests) at
the moment they are needed: each spawn of an instance, each ``exec`` command,
each run of an exec probe. So a changed secret reaches an app at its next
start (``procward reload APP``), and between spawns the plaintext is nowhere
in the daemon but inside the store itself.

Everything that only *shows* an app (``getEnv``, ``inspect``, the saved state,
a preflight's ``PATH`` lookup) launches it with ``<secret:NAME>`` in place of
each value and never asks the source.

A reference that cannot be resolved (no store, a store that cannot be read, a
missing name, a value that is not text) is a ``ConfigError`` naming the app
and the secret, exactly as a bad ``env_file`` is: the spawn fails, the reason
shows in ``procward status``, and other apps are unaffected.

This module is imported only by apps that use secrets (and lazily): a daemon
whose apps use none never loads it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Protocol

from procward.kit._structs import Struct, field
from procward.supervision.spec import AppSpec, ConfigError, Problem, placeholder, variables_in
from procward.supervision.values import did_you_mean, show

__all__ = [
    "SECRET_NAME",
    "Resolved",
    "SecretRef",
    "SecretSource",
    "SecretsUnavailable",
    "check_secret_name",
    "gather",
    "placeholder",
    "resolve",
    "variable_for",
]

SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SecretsUnavailable(Exception):
    """The values asked for cannot be given; the message says why and names the secret(s).

    Raised by a ``SecretSource``: a name that is not in the store, a store
    that cannot be decrypted or read. The message is shown to people as is.
    """


class SecretSource(Protocol):
    """Where values come from (the store); the daemon asks only at spawn time."""

    def values(self, names: Collection[str]) -> dict[str, bytes]:
        """The value of each of ``names``; ``SecretsUnavailable`` if any cannot be given."""
        ...

    def names(self) -> frozenset[str] | None:
        """The names in the store now; None when the store cannot be read now."""
        ...


class SecretRef(Struct):
    """``{ secret = "db_url" }`` as the value of one ``env`` variable, while a config is read."""

    name: str


class Resolved(Struct):
    """The secrets of one spawn: what goes into its environment or into its files.

    ``values`` (secret name -> bytes) is kept only until the process is
    spawned (and, for ``exec``, until its output is redacted); ``env`` is the
    variables of ``secrets_as = "env"``; ``directory`` the credentials
    directory of ``secrets_as = "files"``, written by the supervisor.
    """

    values: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    directory: str | None = None


def check_secret_name(name: object) -> str:
    """``name`` if it can name a secret, else ``ValueError`` saying why."""
    if not isinstance(name, str):
        raise ValueError(f"must be a secret name (a string), got {show(name)}")
    if not SECRET_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a secret name: 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def variable_for(name: str) -> str:
    """``stripe-key`` -> ``STRIPE_KEY``: the variable of ``secrets = ["stripe-key"]``."""
    return name.upper().replace("-", "_").replace(".", "_")


def resolve(spec: AppSpec, source: SecretSource | None) -> Resolved:
    """The values of ``spec``'s secrets from ``source``; ``ConfigError`` naming them if not.

    For ``secrets_as = "env"`` each value must be UTF-8 text without NUL (an
    environment cannot hold anything else); files take any bytes.
    """
    names = sorted(set(spec.secrets.values()))
    if source is None:
        listed = ", ".join(repr(n) for n in names)
        raise _error(spec, f"no secret store: cannot give {listed}")
    try:
        values = source.values(names)
    except SecretsUnavailable as exc:
        raise _error(spec, str(exc)) from None
    missing = [n for n in names if n not in values]
    if missing:  # a source that forgot to raise
        raise _error(spec, f"no secret named {', '.join(repr(n) for n in missing)} in the store")
    kept = {name: bytes(values[name]) for name in names}
    if spec.secrets_as == "files":
        return Resolved(values=kept)
    return Resolved(values=kept, env=_as_env(spec, kept))


def _as_env(spec: AppSpec, values: Mapping[str, bytes]) -> dict[str, str]:
    env = {}
    for variable, name in spec.secrets.items():
        try:
            text = values[name].decode("utf-8")
        except UnicodeDecodeError:
            text = "\0"
        if "\0" in text:
            raise _error(
                spec,
                f"secret {name!r} is not UTF-8 text without NUL, so it cannot be the value "
                f'of {variable}; give it to the app as a file (secrets_as = "files")',
            )
        env[variable] = text
    return env


def _error(spec: AppSpec, message: str) -> ConfigError:
    return ConfigError([Problem(spec.name, "secrets", message)])


def gather(fields: dict[str, Any], known: frozenset[str] | None) -> list[tuple[str, str]]:
    """One app's secret references into ``fields["secrets"]``; ``(key, why)`` of each problem.

    ``env``'s ``{ secret = "..." }`` variables move to ``secrets``, so that
    ``AppSpec.env`` keeps only plain strings and ``AppSpec.secrets`` every
    variable that comes from a secret, whichever way the file said it. A
    variable set twice, a secret's ``$VAR`` in a command line or a probe's
    address, and (with ``known``, the store's names) unknown names are problems.
    """
    refs = {k: v.name for k, v in fields.get("env", {}).items() if isinstance(v, SecretRef)}
    listed: dict[str, str] = fields.get("secrets", {})
    problems = [
        (f"secrets.{key}", f"{key} is set in env too: give it one value")
        for key in listed
        if key in fields.get("env", {})
    ]
    if "env" in fields:
        fields["env"] = {k: v for k, v in fields["env"].items() if k not in refs}
    secrets = fields["secrets"] = refs | listed
    for key, arg, where in _argv_words(fields):
        for variable in variables_in(arg):
            if variable in secrets:
                message = (
                    f"${variable} would put secret {secrets[variable]!r} {where}: "
                    "let the program read it from its environment"
                )
                problems.append((key, message))
    if known is not None:
        wanted = [(f"env.{key}", name) for key, name in refs.items()]
        wanted += [("secrets", name) for name in listed.values()]
        problems += [
            (
                where,
                f"no secret named {name!r} in the store{did_you_mean(name, known)}; "
                f"set it with `procward secret set {name}`",
            )
            for where, name in wanted
            if name not in known
        ]
    return problems


_ON_A_COMMAND_LINE = "on a command line, where `ps` shows it to everyone"


def _argv_words(fields: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(key, word, where it would show)`` of what becomes an argv or a probe's address."""
    for arg in fields.get("cmd", ()):
        yield "cmd", arg, _ON_A_COMMAND_LINE
    for name, argv in fields.get("commands", {}).items():
        for arg in argv:
            yield f"commands.{name}", arg, _ON_A_COMMAND_LINE
    for check in ("ready", "health"):
        probe = fields.get(check)
        if probe is not None:
            key = f"{check}.{probe.kind.value}"
            for arg in probe.argv:
                yield key, arg, _ON_A_COMMAND_LINE
            yield key, probe.target, "in a probe's address, which `procward health` shows"
