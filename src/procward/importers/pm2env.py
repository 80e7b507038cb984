"""A PM2 app's environment variables, merged as ``pm2 start [--env NAME]`` merges them.

PM2 gives an app ``env``; with ``--env NAME`` it puts the deploy section's
``deploy.NAME.env`` under it and the app's ``env_NAME`` over it. Values are
what node passes to a child: ``3000`` becomes ``"3000"``, ``true``
``"true"``, an object its JSON. PM2 adds ``PORT`` for ``port``,
``PYTHONUNBUFFERED=1`` under python, and the instance's index as
``NODE_APP_INSTANCE`` (or ``instance_var``), which procward writes as
``{instance}``; ``increment_var`` adds that index to a variable, which
procward can write for a base ending in 0 (``"808{instance}"``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

__all__ = ["app_env"]

_INSTANCE_VAR = "NODE_APP_INSTANCE"


def app_env(
    config: Mapping[str, object],
    selected: tuple[str | None, object],
    *,
    instances: int,
    python: bool,
    note: Callable[[str, str], None],
) -> tuple[dict[str, str], dict[str, str]]:
    """(PM2's values, procward's per-instance ones with ``{instance}``) of the app.

    ``selected``: the ``--env`` name and the deploy section's ``env`` for it.
    """
    name, deploy_env = selected
    env: dict[str, str] = {}
    for key, table in _layers(config, name, deploy_env, note):
        if not isinstance(table, Mapping):
            note(key, f"not a table of variables ({table!r}): not imported")
            continue
        env |= {str(k): _value(v) for k, v in table.items() if v is not None}
    if "port" in config:
        env["PORT"] = _value(config["port"])
    if python:
        env.setdefault("PYTHONUNBUFFERED", "1")
    per_instance = {str(config.get("instance_var") or _INSTANCE_VAR): "{instance}"}
    if "increment_var" in config:
        variable = str(config["increment_var"])
        counted = _incremented(env.get(variable, ""), instances)
        if counted is None:
            note(
                "increment_var",
                f"{variable} = {env.get(variable) or '(unset)'} plus the instance's index: "
                "procward writes {instance} as a digit, right for a base ending in 0 and at "
                f"most 10 instances; not imported: set {variable} per instance by hand",
            )
        else:
            per_instance[variable] = counted
    return env, per_instance


def _layers(
    config: Mapping[str, object],
    name: str | None,
    deploy_env: object,
    note: Callable[[str, str], None],
) -> list[tuple[str, object]]:
    """The tables to merge, lowest first; the ``env_*`` left out are noted."""
    layers: list[tuple[str, object]] = []
    if name is not None and isinstance(deploy_env, Mapping):
        layers.append(("deploy", deploy_env))
    layers.append(("env", config.get("env", {})))
    if name is not None and f"env_{name}" in config:
        layers.append((f"env_{name}", config[f"env_{name}"]))
    elif name is not None:
        note("name", f"has no env_{name}: PM2 started it with env alone, so does this")
    for key in config:
        if key.startswith("env_") and key != f"env_{name}":
            other = key.removeprefix("env_")
            note(
                key,
                f"used by pm2 start --env {other}: not imported (procward import --env "
                f"{other} takes it)",
            )
    return layers


def _value(value: object) -> str:
    """As node passes it to a child: ``true``, ``3000``; objects as JSON, as PM2 does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _incremented(base: str, instances: int) -> str | None:
    """``base`` plus the instance's index, as procward writes it, where it can."""
    if base.isdigit() and int(base) % 10 == 0 and instances <= 10:
        return f"{int(base) // 10}{{instance}}"
    return None
