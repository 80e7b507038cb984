"""Keys of other supervisors, and what procward does instead.

Someone moving from supervisord, PM2 or Circus writes the keys they know.
A close match among procward's own keys would mislead them
(``max_memory_restart`` is not ``max_restarts``), so a key found here gets
a real answer: procward's key that does the same, or why there is none and
what to use. Read only when a config has a mistake to explain.
"""

from __future__ import annotations

__all__ = ["OTHER_KEYS", "answer"]

_SD, _PM2, _CIRCUS = "supervisord", "PM2", "Circus"
_LOGS = "not needed: output goes to logs/<app>/<n>.out and .err (procward logs)"

# key -> (whose, what to do in procward)
OTHER_KEYS: dict[str, tuple[str, str]] = {
    # supervisord
    "command": (_SD, "use 'cmd'"),
    "directory": (_SD, "use 'cwd'"),
    "numprocs": (_SD, "use 'instances'"),
    "autorestart": (f"{_SD}'s and {_PM2}", "use 'restart'"),
    "startsecs": (_SD, "use 'min_start'"),
    "startretries": (_SD, "use 'max_restarts' (within 'restart_window')"),
    "stopsignal": (_SD, "use 'stop_signal'"),
    "stopwaitsecs": (_SD, "use 'stop_timeout'"),
    "stopasgroup": (_SD, "not needed: procward always signals the whole process group"),
    "killasgroup": (_SD, "not needed: procward always signals the whole process group"),
    "environment": (_SD, "use 'env' (a table)"),
    "redirect_stderr": (_SD, "use 'merge_logs'"),
    "stdout_logfile": (_SD, _LOGS),
    "stderr_logfile": (_SD, _LOGS),
    "stdout_logfile_maxbytes": (_SD, "use 'log_max_size'"),
    "stdout_logfile_backups": (_SD, "use 'log_backups'"),
    "priority": (_SD, "use 'depends_on': an app starts after what it depends on"),
    "minfds": (_SD, "use limits = { nofile = ... }, per app"),
    "minprocs": (_SD, "use limits = { nproc = ... }, per app"),
    "exitcodes": (_SD, "not supported: exit 0 is a clean exit; restart = 'always' ignores it"),
    # PM2
    "script": (_PM2, "use 'cmd'"),
    "args": (f"{_PM2}'s and {_CIRCUS}", "use 'cmd': the program and its arguments"),
    "interpreter": (_PM2, "use 'cmd': the interpreter first"),
    "node_args": (_PM2, "use 'cmd'"),
    "exec_mode": (_PM2, "not needed: 'instances' runs N processes, 'sockets' shares a port"),
    "max_memory_restart": (_PM2, "use 'max_memory'"),
    "restart_delay": (_PM2, "use 'backoff' (its 'initial' delay)"),
    "exp_backoff_restart_delay": (_PM2, "use 'backoff'"),
    "kill_timeout": (_PM2, "use 'stop_timeout'"),
    "listen_timeout": (_PM2, "use 'start_timeout' in 'ready'"),
    "wait_ready": (_PM2, "use ready = { notify = true } (the app sends READY=1)"),
    "ignore_watch": (_PM2, "use watch = { ignore = [...] }"),
    "watch_delay": (_PM2, "use watch = { delay = ... }"),
    "out_file": (_PM2, _LOGS),
    "error_file": (_PM2, _LOGS),
    "log_file": (_PM2, _LOGS),
    "log_date_format": (_PM2, "use 'log_time' (ISO 8601 times, UTC)"),
    "time": (_PM2, "use 'log_time'"),
    "uid": (f"{_PM2}'s and {_CIRCUS}", "use 'user' (a name or a number)"),
    "gid": (f"{_PM2}'s and {_CIRCUS}", "use 'group' (a name or a number)"),
    # Circus
    "rlimit_nofile": (_CIRCUS, "use limits = { nofile = ... }"),
    "rlimit_nproc": (_CIRCUS, "use limits = { nproc = ... }"),
    "rlimit_core": (_CIRCUS, "use limits = { core = ... }"),
    "numprocesses": (_CIRCUS, "use 'instances'"),
    "working_dir": (_CIRCUS, "use 'cwd'"),
    "warmup_delay": (_CIRCUS, "use ready = { delay = ... }"),
    "graceful_timeout": (_CIRCUS, "use 'stop_timeout'"),
    "max_retry": (_CIRCUS, "use 'max_restarts'"),
    "respawn": (_CIRCUS, "use 'restart'"),
    "copy_env": (_CIRCUS, "not needed: apps get the daemon's environment, plus 'env'"),
    "use_sockets": (_CIRCUS, "use 'sockets'"),
    "singleton": (_CIRCUS, "use instances = 1"),
    "stdout_stream": (_CIRCUS, _LOGS),
    "stderr_stream": (_CIRCUS, _LOGS),
    "max_age_variance": (_CIRCUS, "use 'max_age_jitter'"),
}


def answer(key: str) -> str | None:
    """``'stopwaitsecs' is supervisord's: use 'stop_timeout'``, or None for a key not listed."""
    found = OTHER_KEYS.get(key)
    if found is None:
        return None
    whose, instead = found
    return f"{key!r} is {whose}'s: {instead}"
