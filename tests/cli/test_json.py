"""Every command's ``--json``, run for real, with its top-level keys pinned (docs/cli-json.md).

One daemon in a private home goes through every command of the parser, in
the order a user might; each output is parsed and its keys compared with
``SHAPES``. An object carries ``json_version`` (1); a list is a list of
records; ``lines`` commands print one JSON object per line. A key removed
or renamed here is a change for every script that reads it: bump
``render.JSON_VERSION`` and say so in docs/cli-json.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from procward.cli.main import PARSER
from procward.kit.testing import wait_for
from tests.conftest import Result

CONFIG = """\
[apps.web]
cmd = ["sh", "-c", "echo started; exec sleep 600"]

[apps.web.commands]
hello = "echo hello"
"""

LIST = "list"  # a JSON array of records
LINES = "lines"  # one JSON object per line

DAEMON = {"pid", "version", "uptime"}
PATHS = {"instance", "runtime_dir", "socket", "state_dir", "lock", "metadata", "state"}
PATHS |= {"log_dir", "daemon_log"}
APP_VIEW = {"json_version", "name", "desired", "held", "source", "instances", "depends_on"}
APP_VIEW |= {"healthy", "error"}
APPS_CHANGED = {"json_version", "apps"}

# command (as in the parser) -> the top-level keys of its --json (or LIST / LINES of keys)
SHAPES: dict[str, set[str] | tuple[str, set[str]]] = {
    "up": {"json_version", "resume", "loadConfig", "ping"},
    "ping": {"json_version", *DAEMON},
    "info": {"json_version", "daemon", "pid", "version", "cgroups", *PATHS},
    "status": {"json_version", "daemon", "apps", "healthy", "warnings"},
    "start": APPS_CHANGED,
    "stop": APPS_CHANGED,
    "restart": APPS_CHANGED,
    "reload": APPS_CHANGED,
    "scale": APPS_CHANGED,
    "health": {"json_version", "apps", "healthy"},
    "uptime": {"json_version", "apps", "days"},
    "events": (LINES, {"time", "app", "instance", "pid", "from", "to", "why"}),
    "hooks": (LIST, set()),
    "logs": (LINES, {"app", "instance", "stream", "line"}),
    "flush": {"json_version", "flushed"},
    "inspect": {
        *APP_VIEW,
        "spec",
        "health",
        "usage",
        "env",
        "env_masked",
        "watch",
        "recycling",
        "logs",
    },
    "metrics": {"json_version", "daemon", "apps", "enabled", "interval", "sampled_at"},
    "env": {"json_version", "name", "instance", "env"},
    "exec": {
        "json_version",
        "app",
        "instance",
        "argv",
        "code",
        "signal",
        "stdout",
        "stderr",
        "timed_out",
        "seconds",
        "error",
    },
    "graph": {"json_version", "nodes", "edges"},
    "watch": {"json_version", "enabled", "only", "apps"},
    "prompt": {
        "json_version",
        "pid",
        "healthy",
        "running",
        "wanted",
        "down",
        "exited",
        "starting",
        "updated",
    },
    "network": {"json_version", "addresses", "network", "tls", "warnings"},
    "dashboard": {"json_version", "url", "role", "expires", "http"},
    "token": {"json_version", "token", "id", "role", "subject", "expires"},
    "secret": {
        "json_version",
        "name",
        "size",
        "set_at",
        "set_by",
        "used_by",
        "created",
        "reloaded",
        "not_reloaded",
    },
    "audit": (LIST, {"time", "method", "role", "transport"}),
    "completion": {"json_version", "shell", "script"},
    "__complete": {"json_version", "apps"},
    "import": {"json_version", "kind", "apps", "notes", "output", "toml"},
    "service": {"json_version", "kind", "units"},
    "startup": {"json_version", "kind", "written", "enable", "at_boot"},
    "save": {"json_version", "saved", "state"},
    "doctor": {"json_version", "problems", "findings"},
    "delete": {"json_version", "deleted"},
    "upgrade": {"json_version", "before", "upgrade", "after"},
    "down": {"json_version", "was_running", "pid", "killed", "groups_killed"},
    "kill": {"json_version", "was_running", "pid", "killed", "groups_killed"},
    "run": {"json_version", "pid", "instance", "warnings", "resume"},
    # Needs a fleet (Redis, nodes): run and pinned by tests/fleet/test_fleet.py.
    "fleet": {
        "json_version",
        "cluster",
        "node",
        "leader",
        "fence",
        "seen_fence",
        "refused",
        "nodes",
        "assignments",
    },
}
ELSEWHERE = {"fleet"}  # commands whose --json another test runs, against what they need
# The other forms of a command, each with its own shape.
MORE_SHAPES: dict[str, set[str] | tuple[str, set[str]]] = {
    "status web": {"json_version", "apps", "healthy"},
    "reload (config files)": {"json_version", "files", "apps"},
    "logs --reopen": {"json_version", "reopened"},
    "token list": (LIST, {"id", "role", "subject", "issued", "expires", "revoked"}),
    "token revoke": {
        "json_version",
        "id",
        "role",
        "subject",
        "issued",
        "expires",
        "revoked",
        "sessions_ended",
    },
    "token rotate": {"json_version", "sessions_ended", "success"},
    "secret list": {"json_version", "secrets", "readable", "problem", "path"},
    "secret rm": {"json_version", "name", "used_by"},
    "secret rotate-key": {"json_version", "key", "key_id", "secrets"},
    "run (foreground)": (LINES, {"time", "level", "logger", "msg"}),
}

Runner = Callable[..., Result]


def test_every_command_is_in_the_table() -> None:
    names = set(PARSER.commands)
    assert names == set(SHAPES), f"add to SHAPES: {sorted(names - set(SHAPES))}"


def test_every_command_accepts_json() -> None:
    for command in PARSER.commands.values():
        assert "--json" in {name for option in command.options for name in option.names}


@pytest.mark.slow
def test_each_commands_json_has_its_documented_keys(
    cli: Runner, home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", os.path.join(home, "config"))  # startup writes there
    config = os.path.join(home, "procward.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    procfile = os.path.join(home, "Procfile")
    with open(procfile, "w") as f:
        f.write("worker: sleep 600\n")
    seen: dict[str, object] = {}

    def run(
        key: str, *argv: str, stdin: str | None = None, codes: tuple[int, ...] = (0,)
    ) -> object:
        result = _run(argv, stdin) if stdin is not None else cli(*argv, "--json")
        assert result.code in codes, f"{key}: exit {result.code}: {result.err}"
        seen[key] = _parsed(result.out)
        return seen[key]

    run("up", "up", "-c", config)
    wait_for(lambda: cli("status", "web").code == 0, what="web to run")
    run("ping", "ping")
    run("info", "info")
    run("status", "status")
    run("status web", "status", "web")
    run("stop", "stop", "web")
    run("start", "start", "web")
    run("restart", "restart", "web")
    run("reload", "reload", "web")
    run("reload (config files)", "reload")
    run("scale", "scale", "web", "1")
    run("health", "health", codes=(0, 1))
    run("uptime", "uptime")
    run("events", "events")
    run("hooks", "hooks")
    wait_for(lambda: "started" in cli("logs", "web").out, what="web's first line")
    run("logs", "logs", "web")
    run("logs --reopen", "logs", "--reopen")
    run("flush", "flush", "web")
    run("inspect", "inspect", "web", codes=(0, 1))
    run("metrics", "metrics")
    run("env", "env", "web")
    run("exec", "exec", "web", "hello")
    run("graph", "graph")
    run("watch", "watch")
    wait_for(lambda: cli("prompt").code in (0, 1), what="the status file")
    run("prompt", "prompt", codes=(0, 1))
    run("network", "network", "--tcp", "127.0.0.1:0")
    run("dashboard", "dashboard")
    made = run("token", "token", "create", "viewer")
    run("token list", "token", "list")
    assert isinstance(made, dict)
    run("token revoke", "token", "revoke", made["id"])
    run("token rotate", "token", "rotate")
    run("secret", "secret", "set", "api_key", stdin="s3cret\n")
    run("secret list", "secret", "list")
    run("secret rotate-key", "secret", "rotate-key")
    run("secret rm", "secret", "rm", "api_key")
    run("audit", "audit")
    run("completion", "completion", "bash")
    run("__complete", "__complete", "apps")
    run("import", "import", procfile)
    run("service", "service")
    run("startup", "startup")
    run("save", "save")
    run("doctor", "doctor", codes=(0, 1))
    run("upgrade", "upgrade")
    run("delete", "delete", "web")
    run("down", "down")
    run("kill", "kill")
    run("run", "run", "--detached")
    assert cli("down").code == 0
    seen["run (foreground)"] = _foreground_log(home)

    wrong = {key: (_keys(got), _want(key)) for key, got in seen.items() if not _fits(got, key)}
    assert not wrong, "\n".join(f"{k}: got {g}, want {w}" for k, (g, w) in wrong.items())
    assert set(seen) == (set(SHAPES) - ELSEWHERE) | set(MORE_SHAPES) | {"run (foreground)"}


def _run(argv: tuple[str, ...], stdin: str) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "procward", *argv, "--json"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _foreground_log(home: str) -> object:
    """``run --json`` in the foreground: the daemon's log on stderr, one JSON object a line."""
    config = os.path.join(home, "once.toml")
    with open(config, "w") as f:
        f.write(textwrap.dedent('[apps.once]\ncmd = "true"\nrestart = "never"\n'))
    argv = [
        sys.executable,
        "-m",
        "procward",
        "run",
        "--json",
        "-c",
        config,
        "--exit-on",
        "any-exit",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return Lines(json.loads(line) for line in proc.stderr.splitlines())


def _parsed(out: str) -> object:
    try:
        return json.loads(out)
    except json.JSONDecodeError:  # JSON lines
        return Lines(json.loads(line) for line in out.splitlines() if line)


class Lines(list[dict[str, object]]):
    """What a command printed as JSON lines (not one JSON document)."""


def _fits(got: object, key: str) -> bool:
    """An object has exactly the keys; each item of a list or of lines, at least them."""
    want, keys = _want(key), _keys(got)
    if isinstance(want, set) or isinstance(keys, set):
        return keys == want
    return keys[0] == want[0] and want[1] <= keys[1]


def _want(key: str) -> set[str] | tuple[str, set[str]]:
    return MORE_SHAPES.get(key) or SHAPES[key]


def _keys(got: object) -> set[str] | tuple[str, set[str]]:
    """An object's keys; for a list or lines, the keys every item has."""
    if isinstance(got, dict):
        return set(got)
    assert isinstance(got, list)
    common: set[str] = set.intersection(*(set(item) for item in got)) if got else set()
    return (LINES if isinstance(got, Lines) else LIST, common)
