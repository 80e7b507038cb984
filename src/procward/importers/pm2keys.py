"""One PM2 app (an entry of ``apps``) into one procward app, key by key.

Each PM2 key has a handler that writes procward's key, or a note saying what
procward does instead; a key PM2 has no handler for here takes the answer
of ``supervision/otherkeys.py`` (``record.not_imported``). PM2's units are
kept where procward reads them (``"200M"``, ``"10s"``); its milliseconds
become ``"1600ms"``. What the handlers share with PM2's own reading of a
file: ``cmd`` and ``command`` are old names of ``script``, string ``args``
are split as PM2 splits them (``pm2args.py``), ``env_<name>`` counts only
with ``--env <name>`` (``pm2env.py``), ``instances`` of ``"max"``, 0 or -1
follow the CPUs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from procward.importers.cmdform import as_cmd
from procward.importers.expansions import to_procward
from procward.importers.pm2args import command
from procward.importers.pm2env import app_env
from procward.importers.pm2lines import KeyLines
from procward.importers.record import ImportedApp, Note, not_imported

__all__ = ["Where", "app_keys"]

_MS = re.compile(r"\d+(?:\.\d+)?")
_PM2_TIME = re.compile(r"\d+[hms]")  # min_uptime's other form
_PM2_SIZE = re.compile(r"\d+[KMG]?", re.IGNORECASE)
_CRON_WORDS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EXP_BACKOFF = (1.5, 15_000)  # PM2 multiplies the delay by 1.5, up to 15 s


class Where:
    """What every app of one file shares: the file, where its keys are, and the options."""

    def __init__(
        self, file: str, lines: KeyLines, env_name: str | None, deploy_env: object, path: str
    ) -> None:
        self.file, self.lines, self.env_name, self.deploy_env = file, lines, env_name, deploy_env
        self.search_path = path  # PATH of procward import


class _App:
    """The app being built: its keys, its notes, and what the handlers read of each other."""

    def __init__(self, where: Where, index: int, config: Mapping[str, object], cwd: str):
        self.where, self.index, self.config, self.cwd = where, index, config, cwd
        self.keys: dict[str, object] = {}
        self.notes: list[Note] = []
        self.instances = 1
        self.env: dict[str, str] = {}  # PM2's values
        self.per_instance: dict[str, str] = {}  # procward's, with {instance}

    def note(self, key: str, text: str) -> None:
        line = self.where.lines.line(self.index, key)
        if not line:
            text += " (its line was not found in the file's text)"
        self.notes.append(Note(self.where.file, line, key, text))


def app_keys(
    where: Where, index: int, name: str, config: Mapping[str, object], cwd: str
) -> ImportedApp:
    """The procward app of PM2 app ``config`` (its keys already resolved to ``cwd``)."""
    app = _App(where, index, config, cwd)
    words, said = command(config, cwd, where.search_path)
    for key, text in said:
        app.note(key, text)
    app.keys["cmd"] = as_cmd(words) if words else []
    app.keys["cwd"] = cwd
    if "instances" in config:
        _instances(app, "instances", config["instances"])
    app.env, app.per_instance = app_env(
        config,
        (where.env_name, where.deploy_env),
        instances=app.instances,
        python="python" in os.path.basename(words[0]) if words else False,
        note=app.note,
    )
    for key, value in config.items():
        handler = _HANDLERS.get(key)
        if handler is not None:
            handler(app, key, value)
        elif not (key in _DONE_ELSEWHERE or key.startswith("env_")):
            app.note(key, not_imported(key))
    _restart(app)
    app.keys["stop_signal"] = "INT"  # PM2's, which its apps are written to handle
    env = {k: to_procward(v, dollars=False)[0] for k, v in app.env.items()}
    app.keys["env"] = env | app.per_instance
    line = where.lines.anchors[index] if index < len(where.lines.anchors) else None
    notes = tuple(sorted(app.notes, key=lambda note: note.line))
    return ImportedApp(name, app.keys, notes, f"{where.file}:{line}" if line else where.file)


# -- the keys ---------------------------------------------------------------------


def _instances(app: _App, key: str, value: object) -> None:
    """A number, a numeric string, or PM2's CPU counts: "max" and 0 all, -1 all but one."""
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    cpus = os.cpu_count() or 1
    if isinstance(value, bool) or not (text == "max" or text.lstrip("-").isdigit()):
        app.note(key, f"{value!r} is not a number of instances: one is started")
        return
    if text in ("max", "0") or text.startswith("-"):
        count = cpus if text in ("max", "0") else max(1, cpus + int(text))
        app.note(
            key,
            f"{value!r} is PM2's count of CPUs: written as {count}, for the {cpus} CPUs of the "
            "machine that ran procward import; set it for the machine that will run it",
        )
    else:
        count = max(1, int(text))
    app.instances = count
    app.keys["instances"] = count


def _exec_mode(app: _App, key: str, value: object) -> None:
    mode = str(value).removesuffix("_mode")
    if mode == "cluster":
        app.note(key, _cluster(app))
    elif mode != "fork":
        app.note(key, f"{value!r} is neither fork nor cluster: ignored")


def _cluster(app: _App) -> str:
    """What to do instead of one port shared by the workers."""
    shared = (
        "PM2's cluster mode shared one port among its node workers; procward runs "
        f"{app.instances} processes of its own"
    )
    port = app.per_instance.get("PORT")
    if port is not None:
        return f"{shared}, each with its own PORT ({port}, from increment_var)"
    at = f" (PORT {app.env['PORT']})" if "PORT" in app.env else ""
    return (
        f"{shared}: if the app listens on a port{at}, give it sockets = "
        '{ http = "127.0.0.1:PORT" } and have it listen on the inherited socket, or give each '
        'instance its own port (PORT = "300{instance}")'
    )


def _restart(app: _App) -> None:
    """PM2 restarts after any exit unless ``autorestart`` is false or the code is listed."""
    config = app.config
    if config.get("autorestart", True) in (False, "false"):
        app.keys["restart"] = "never"
        return
    codes = config.get("stop_exit_codes")
    listed = codes if isinstance(codes, list) else [codes] if codes is not None else []
    if [str(c) for c in listed] == ["0"]:
        app.keys["restart"] = "on-failure"
        return
    app.keys["restart"] = "always"
    if listed:
        app.note(
            "stop_exit_codes",
            "procward's on-failure stops after exit 0 only: restart = 'always' is used",
        )


def _max_restarts(app: _App, key: str, value: object) -> None:
    number = _count(app, key, value)
    if number is not None:
        app.keys["max_restarts"] = number
        app.note(
            key,
            "PM2 counted restarts in a row of runs shorter than min_uptime; procward counts "
            "every restart within restart_window (60s)",
        )


def _min_uptime(app: _App, key: str, value: object) -> None:
    text = str(value).strip() if isinstance(value, str | int) else ""
    if _PM2_TIME.fullmatch(text):
        app.keys["min_uptime"] = text
    elif _MS.fullmatch(text) and not isinstance(value, bool):
        app.keys["min_uptime"] = f"{text}ms"
    else:
        app.note(key, f"{value!r} is not PM2's milliseconds or 10s/5m/1h: not imported")


def _milliseconds(procward_key: str) -> Callable[[_App, str, object], None]:
    def read(app: _App, key: str, value: object) -> None:
        ms = _ms(app, key, value)
        if ms is not None:
            app.keys[procward_key] = f"{ms}ms"

    return read


def _restart_delay(app: _App, key: str, value: object) -> None:
    ms = _ms(app, key, value)
    if ms and "exp_backoff_restart_delay" in app.config:
        app.note(key, "PM2 uses exp_backoff_restart_delay instead when both are set")
    elif ms:
        app.keys["backoff"] = {"initial": f"{ms}ms", "multiplier": 1, "max": f"{ms}ms"}


def _exp_backoff(app: _App, key: str, value: object) -> None:
    ms = _ms(app, key, value)
    if ms:
        multiplier, most = _EXP_BACKOFF
        app.keys["backoff"] = {
            "initial": f"{ms}ms",
            "multiplier": multiplier,
            "max": f"{max(ms, most)}ms",
        }


def _wait_ready(app: _App, key: str, value: object) -> None:
    if value is not True:
        return
    ready: dict[str, object] = {"notify": True}
    timeout = app.config.get("listen_timeout")
    if timeout is not None and (ms := _ms(app, "listen_timeout", timeout)):
        ready["start_timeout"] = f"{ms}ms"
    app.keys["ready"] = ready
    app.note(
        key,
        "written as ready = { notify = true }: the app's process.send('ready') must become "
        "sd_notify's READY=1 on $NOTIFY_SOCKET (or choose another ready probe, such as "
        "tcp = PORT); PM2 went on after listen_timeout without it, procward counts that start "
        "as failed",
    )


def _listen_timeout(app: _App, key: str, value: object) -> None:
    if app.config.get("wait_ready") is not True:
        app.note(
            key,
            "PM2 waited this long for the app to listen: procward waits with ready = "
            '{ tcp = "127.0.0.1:PORT", start_timeout = ... }; not imported',
        )


def _max_memory(app: _App, key: str, value: object) -> None:
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not _PM2_SIZE.fullmatch(text) or (text.isdigit() and int(text) == 0):
        app.note(key, f"{value!r} is not a size like 200M: not imported")
    else:
        app.keys["max_memory"] = int(text) if text.isdigit() else text.upper()


def _cron(app: _App, key: str, value: object) -> None:
    """Five fields or @daily as they are; PM2's six (seconds first) only with second 0."""
    if value in (0, "0", False, None):
        return  # PM2: no cron restart
    fields = str(value).split()
    if len(fields) == 6 and fields[0] == "0":
        app.keys["cron_restart"] = " ".join(fields[1:])
        app.note(key, "six fields: the seconds (0) are left out, procward's cron has minutes")
    elif len(fields) == 5 or (len(fields) == 1 and fields[0].lower() in _CRON_WORDS):
        app.keys["cron_restart"] = str(value).strip()
    else:
        app.note(key, f"{value!r}: procward's cron_restart takes 5 fields or @daily; not imported")


def _watch(app: _App, key: str, value: object) -> None:
    """``true`` (the cwd), a path or paths; with ``ignore_watch`` globs and ``watch_delay``."""
    if value is False or value is None:
        return
    table: dict[str, object] = {}
    paths = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if paths:
        table["paths"] = [os.path.join(app.cwd, str(p)) for p in paths]
    ignore = _ignore(app, app.config.get("ignore_watch"))
    if ignore:
        table["ignore"] = ignore
    delay = app.config.get("watch_delay")
    if delay is not None and (ms := _ms(app, "watch_delay", delay)) is not None:
        table["delay"] = f"{ms}ms"
    app.keys["watch"] = table or True
    app.note(key, "procward reloads the app when a watched file changes (rolling, by default)")


def _ignore(app: _App, value: object) -> list[str]:
    """Globs and names carry over; regular expressions do not (procward takes globs)."""
    items = [value] if isinstance(value, str | dict) else value if isinstance(value, list) else []
    found = []
    for item in items:
        if isinstance(item, dict) or (isinstance(item, str) and re.search(r"\\|\^|\$|\(|\|", item)):
            shown = item.get("$regexp", item) if isinstance(item, dict) else item
            app.note("ignore_watch", f"{shown!r} is a regular expression: procward ignores globs")
        elif isinstance(item, str) and item.strip("/"):
            found.append(item.removeprefix("./"))
    return found


def _log_time(app: _App, key: str, value: object) -> None:
    if value in (False, None, ""):
        return
    app.keys["log_time"] = True
    if key == "log_date_format":
        app.note(key, f"{value!r}: procward's log_time writes ISO 8601 times, in UTC")


def _log_type(app: _App, key: str, value: object) -> None:
    if value == "json":
        app.keys["log_format"] = "json"
    else:
        app.note(key, f"{value!r}: procward writes text or json logs; text is used")


def _flag(procward_key: str) -> Callable[[_App, str, object], None]:
    def read(app: _App, key: str, value: object) -> None:
        if isinstance(value, bool):
            app.keys[procward_key] = value
        else:
            app.note(key, f"{value!r} is not true or false: not imported")

    return read


def _account(procward_key: str) -> Callable[[_App, str, object], None]:
    def read(app: _App, key: str, value: object) -> None:
        app.keys[procward_key] = value if isinstance(value, int) else str(value)
        app.note(key, f"kept as {procward_key}: only a daemon run as root can switch to it")

    return read


def _merge_logs(app: _App, key: str, value: object) -> None:
    if value:
        app.note(
            key,
            "PM2 wrote all instances into one file; procward keeps a file per instance and "
            "procward logs NAME shows them together (procward's merge_logs is something "
            "else: stdout and stderr in one file)",
        )


def _log_file(app: _App, key: str, value: object) -> None:
    if not value:
        return
    if key in ("pid_file", "pid"):
        app.note(key, "not needed: procward status shows the pids")
    elif key in ("log_file", "log"):
        app.note(key, "not imported: merge_logs = true writes stdout and stderr to one <n>.log")
    else:
        app.note(key, "not needed: output goes to logs/<app>/<n>.out and .err (procward logs)")


def _not_needed(why: str) -> Callable[[_App, str, object], None]:
    def read(app: _App, key: str, value: object) -> None:
        app.note(key, f"not imported: {why}")

    return read


# -- values ------------------------------------------------------------------------


def _ms(app: _App, key: str, value: object) -> int | None:
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if isinstance(value, bool) or not _MS.fullmatch(text):
        app.note(key, f"{value!r} is not a number of milliseconds: not imported")
        return None
    return round(float(text))


def _count(app: _App, key: str, value: object) -> int | None:
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or not text.isdigit():
        app.note(key, f"{value!r} is not a number: not imported")
        return None
    return int(text)


_PM2_ONLY = "PM2's own (monitoring, versioning, Windows)"
_HANDLERS: dict[str, Callable[[_App, str, object], None]] = {
    "exec_mode": _exec_mode,
    "autostart": _flag("autostart"),
    "max_restarts": _max_restarts,
    "min_uptime": _min_uptime,
    "restart_delay": _restart_delay,
    "exp_backoff_restart_delay": _exp_backoff,
    "kill_timeout": _milliseconds("stop_timeout"),
    "wait_ready": _wait_ready,
    "listen_timeout": _listen_timeout,
    "max_memory_restart": _max_memory,
    "cron_restart": _cron,
    "cron": _cron,
    "watch": _watch,
    "merge_logs": _merge_logs,
    "combine_logs": _merge_logs,
    "log_date_format": _log_time,
    "time": _log_time,
    "log_type": _log_type,
    "uid": _account("user"),
    "user": _account("user"),
    "gid": _account("group"),
    "filter_env": _not_needed("procward starts apps from a clean environment already"),
    "namespace": _not_needed("procward has no namespaces: one config, one daemon"),
    "shutdown_with_message": _not_needed("procward stops with a signal (stop_signal)"),
    "treekill": _not_needed("procward always signals the whole process group"),
    "disable_logs": _not_needed("procward always keeps logs (log_max_size, log_backups)"),
    "post_update": _not_needed("procward does not update apps"),
    "append_env_to_name": _not_needed("the app keeps its name"),
    **dict.fromkeys(
        ("out_file", "out", "output", "out_log", "error_file", "error", "err", "err_file"),
        _log_file,
    ),
    **dict.fromkeys(("err_log", "log_file", "log", "pid_file", "pid"), _log_file),
    **dict.fromkeys(
        (
            "vizion",
            "pmx",
            "automation",
            "source_map_support",
            "disable_source_map_support",
            "trace",
            "disable_trace",
            "v8",
            "event_loop_inspector",
            "deep_monitoring",
            "windowsHide",
            "io",
            "force",
            "kill_retry_time",
        ),
        _not_needed(_PM2_ONLY),
    ),
}
_DONE_ELSEWHERE = frozenset(
    {
        "name",
        "script",
        "exec",
        "cmd",
        "command",
        "args",
        "interpreter",
        "exec_interpreter",
        "interpreter_args",
        "interpreterArgs",
        "node_args",
        "cwd",
        "instances",
        "env",
        "port",
        "instance_var",
        "increment_var",
        "autorestart",
        "stop_exit_codes",
        "ignore_watch",
        "watch_delay",
    }
)
