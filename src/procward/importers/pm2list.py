"""``pm2 jlist`` output and ``~/.pm2/dump.pm2``: what PM2 runs, back into app configs.

Both are JSON lists of processes: ``jlist`` gives ``{name, pid, pm2_env, monit}``
per process, the dump (what ``pm2 save`` writes and ``pm2 resurrect`` reads)
the ``pm2_env`` alone. A ``pm2_env`` is the app's config after PM2 resolved
it (``pm_exec_path`` the script, ``pm_cwd`` the cwd, ``exec_interpreter``
``node`` or ``none``) mixed with its bookkeeping (``pm_id``, ``status``,
``restart_time``...) and with the whole environment of the shell that
started PM2 in ``env``. So: one app per name (its processes are its
instances), the config keys under their ecosystem names, PM2's defaults and
bookkeeping left out, and of ``env`` only what the shell did not give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

__all__ = ["is_process_list", "process_list_apps"]

_RENAMED = {
    "pm_exec_path": "script",
    "pm_cwd": "cwd",
    "exec_interpreter": "interpreter",
    "pm_out_log_path": "out_file",
    "pm_err_log_path": "error_file",
    "pm_log_path": "log_file",
}
_CONFIG_KEYS = frozenset(
    {
        *_RENAMED.values(),
        "name",
        "args",
        "node_args",
        "exec_mode",
        "autorestart",
        "autostart",
        "stop_exit_codes",
        "max_restarts",
        "min_uptime",
        "restart_delay",
        "exp_backoff_restart_delay",
        "kill_timeout",
        "wait_ready",
        "listen_timeout",
        "max_memory_restart",
        "cron_restart",
        "watch",
        "ignore_watch",
        "watch_delay",
        "log_date_format",
        "time",
        "log_type",
        "uid",
        "gid",
        "increment_var",
        "shutdown_with_message",
    }
)
# Values PM2 writes for every process unless told otherwise: not worth a note.
_DEFAULTS: dict[str, object] = {
    "exec_mode": "fork_mode",
    "autorestart": True,
    "autostart": True,
    "watch": False,
    "time": False,
    "wait_ready": False,
    "shutdown_with_message": False,
}
# In env: PM2's own variables, left out quietly, and the shell's, left out with a note
# (with those equal to procward import's own environment).
_PM2_VARIABLES = frozenset(
    {"name", "pm_id", "unique_id", "namespace", "NODE_APP_INSTANCE", "NODE_CHANNEL_FD"}
)
_PM2_PREFIXES = ("PM2_", "pm_", "axm_", "NODE_CHANNEL_")
_SHELL = frozenset(
    {
        "_",
        "HOME",
        "HOSTNAME",
        "LANG",
        "LANGUAGE",
        "LOGNAME",
        "LS_COLORS",
        "MAIL",
        "OLDPWD",
        "PATH",
        "PS1",
        "PWD",
        "SHELL",
        "SHLVL",
        "TERM",
        "USER",
    }
)
_SHELL_PREFIXES = ("LC_", "SSH_", "XDG_")
_STOPPED = ("stopped", "errored", "stopping")


def is_process_list(config: object) -> TypeGuard[list[Mapping[str, object]]]:
    return (
        isinstance(config, list)
        and bool(config)
        and all(isinstance(p, Mapping) and ("pm2_env" in p or "pm_exec_path" in p) for p in config)
    )


def process_list_apps(
    processes: list[Mapping[str, object]], environ: Mapping[str, str]
) -> tuple[list[dict[str, object]], list[str]]:
    """One config per app name, in first-seen order, and notes about the whole list."""
    by_name: dict[str, list[Mapping[str, object]]] = {}
    for process in processes:
        pm2_env = process.get("pm2_env", process)
        if isinstance(pm2_env, Mapping):
            by_name.setdefault(str(pm2_env.get("name", "app")), []).append(pm2_env)
    configs, left_out, stopped = [], set(), []
    for name, envs in by_name.items():
        config, dropped = _config(envs[0], environ)
        if len(envs) > 1:
            config["instances"] = len(envs)
        if envs[0].get("status") in _STOPPED:
            config["autostart"] = False
            stopped.append(name)
        left_out |= dropped
        configs.append(config)
    notes = [
        "a process list (pm2 jlist, dump.pm2): the processes of one name are one app, their "
        "number its instances; PM2's bookkeeping (pm_id, status, restart counts) is left out"
    ]
    if left_out:
        names = ", ".join(sorted(left_out)[:8]) + (", ..." if len(left_out) > 8 else "")
        notes.append(
            f"{len(left_out)} variable(s) of the shell that started PM2 are left out of env "
            f"({names}): check that the apps do not need them (inherit_env)"
        )
    if stopped:
        notes.append(
            f"{', '.join(stopped)}: not running when listed, imported with autostart = false "
            "(procward start NAME)"
        )
    return configs, notes


def _config(
    pm2_env: Mapping[str, object], environ: Mapping[str, str]
) -> tuple[dict[str, object], set[str]]:
    config: dict[str, object] = {}
    for key, value in pm2_env.items():
        name = _RENAMED.get(key, key)
        if name not in _CONFIG_KEYS or _DEFAULTS.get(name, ...) == value:
            continue
        if name in ("out_file", "error_file", "log_file") and "/.pm2/" in str(value):
            continue  # PM2's own log directory, not a choice
        config[name] = value
    if config.get("interpreter") == "node" and not config.get("node_args"):
        config.pop("interpreter")  # let the script's extension decide, as the file did
    env, dropped = _env(pm2_env.get("env"), environ)
    if env:
        config["env"] = env
    return config, dropped


def _env(env: object, environ: Mapping[str, str]) -> tuple[dict[str, object], set[str]]:
    if not isinstance(env, Mapping):
        return {}, set()
    kept, dropped = {}, set()
    for name, value in env.items():
        if name in _PM2_VARIABLES or name.startswith(_PM2_PREFIXES):
            continue
        if name in _SHELL or name.startswith(_SHELL_PREFIXES) or environ.get(name) == value:
            dropped.add(str(name))
        elif not isinstance(value, Mapping | list):
            kept[str(name)] = value
    return kept, dropped
