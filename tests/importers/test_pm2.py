"""PM2 files into procward keys (``procward.importers.pm2``), without a daemon.

The files are read from a copy of ``data/pm2`` in which ``dotenv/`` has a
stand-in ``node_modules/dotenv`` (what ``npm install`` would have put there),
so that the ecosystem file that ``require``s it runs as it does for PM2.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from procward.importers import Imported, ImportRefused, detect, pm2node, read, render
from procward.importers.pm2args import command, split_args
from procward.importers.pm2lines import KeyLines
from procward.supervision.config import parse_config

from .conftest import DATA, ENVIRON, notes_by_line

FILES = [
    "dotenv/ecosystem.config.js",
    "cluster/ecosystem.config.js",
    "object/ecosystem.config.cjs",
    "esm/ecosystem.config.mjs",
    "ready/ecosystem.config.js",
    "json/pm2.json",
    "json5/processes.json",
    "yaml/ecosystem.yml",
    "jlist/jlist.json",
    "dump/dump.pm2",
]
needs_node = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="node is not installed (make test-tools installs Debian's nodejs)",
)
_DOTENV = """\
// A stand-in for the dotenv package: the KEY=value lines of ./.env into process.env.
const fs = require("fs");
const path = require("path");
exports.config = (options = {}) => {
  const parsed = {};
  const file = options.path || path.resolve(process.cwd(), ".env");
  for (const line of fs.readFileSync(file, "utf8").split("\\n")) {
    const found = line.match(/^\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*=\\s*(.*?)\\s*$/);
    if (found) {
      parsed[found[1]] = found[2];
      if (!(found[1] in process.env)) process.env[found[1]] = found[2];
    }
  }
  return { parsed };
};
"""


def copy_pm2_data(into: Path, *, dotenv: bool = True) -> Path:
    """``data/pm2`` copied under ``into``, with the dotenv stand-in unless told not to."""
    root = into / "pm2"
    shutil.copytree(os.path.join(DATA, "pm2"), root)
    if dotenv:
        module = root / "dotenv" / "node_modules" / "dotenv"
        module.mkdir(parents=True)
        (module / "index.js").write_text(_DOTENV)
    return root


@pytest.fixture
def pm2_data(tmp_path: Path) -> Iterator[Path]:
    yield copy_pm2_data(tmp_path)


def read_pm2(root: Path, relative: str, env_name: str | None = None) -> Imported:
    environ = {**ENVIRON, "PATH": os.environ.get("PATH", os.defpath)}
    return read(str(root / relative), None, environ, env_name)


def apps_of(imported: Imported) -> dict[str, dict[str, object]]:
    return {app.name: app.keys for app in imported.apps}


@pytest.mark.parametrize("relative", FILES)
def test_every_pm2_file_becomes_a_config_procward_accepts(relative: str, pm2_data: Path) -> None:
    if relative.endswith((".js", ".cjs", ".mjs", "processes.json")) and not shutil.which("node"):
        pytest.skip("node is not installed (make test-tools installs Debian's nodejs)")
    path = pm2_data / relative
    assert detect(str(path)) == "pm2"
    imported = read_pm2(pm2_data, relative)
    text = render(imported, str(path.parent))
    config = parse_config(tomllib.loads(text), base_dir=str(path.parent))
    assert list(config.apps) == [app.name for app in imported.apps]
    assert all(spec.stop_signal == "INT" for spec in config.apps.values())


@needs_node
def test_dotenv_ternaries_and_numeric_strings_come_from_running_the_file(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "dotenv/ecosystem.config.js")
    api, scheduler = (app.keys for app in imported.apps)
    assert api["instances"] == 2  # "2", from .env through dotenv
    assert api["cmd"] == "node --max-old-space-size=256 ../bin/app.js"
    assert api["env"] == {
        "DATABASE_URL": "postgres://app@127.0.0.1/app",
        "LOG_LEVEL": "debug",
        "NODE_APP_INSTANCE": "{instance}",
    }
    assert (api["stop_timeout"], api["max_memory"], api["restart"]) == ("4000ms", "300M", "always")
    assert scheduler["cmd"] == f"python3 -u {pm2_data / 'bin' / 'worker.py'}"
    assert scheduler["cron_restart"] == "0 4 * * *"
    notes = notes_by_line(imported)
    assert notes["ecosystem.config.js", 12].startswith("exec_mode: PM2's cluster mode")
    assert notes["ecosystem.config.js", 30].startswith("out_file: not needed")
    assert notes["ecosystem.config.js", 18].startswith("env_production: used by pm2 start")


@needs_node
def test_env_name_merges_env_and_env_name_as_pm2_start_env_does(pm2_data: Path) -> None:
    api = read_pm2(pm2_data, "dotenv/ecosystem.config.js", "production").apps[0]
    assert api.keys["env"]["NODE_ENV"] == "production"  # type: ignore[index]
    ssr = read_pm2(pm2_data, "esm/ecosystem.config.mjs", "staging").apps[0].keys["env"]
    assert ssr == {
        "NODE_ENV": "staging",
        "RENDER_MODE": "workers-2",
        "API_URL": "http://127.0.0.1:9000",
        "NODE_APP_INSTANCE": "{instance}",
    }
    gateway = read_pm2(pm2_data, "yaml/ecosystem.yml", "production")
    assert gateway.apps[0].keys["env"]["GATEWAY_PORT"] == "443"  # type: ignore[index]
    notes = notes_by_line(gateway)
    assert notes["ecosystem.yml", 14] == (
        "name: has no env_production: PM2 started it with env alone, so does this"
    )


@needs_node
def test_a_missing_node_module_is_named_with_what_to_do(tmp_path: Path) -> None:
    root = copy_pm2_data(tmp_path, dotenv=False)
    with pytest.raises(ImportRefused) as refused:
        read_pm2(root, "dotenv/ecosystem.config.js")
    message = str(refused.value)
    assert "requires the node module 'dotenv'" in message
    assert "npm install" in message and "pm2 jlist > pm2.json" in message


def test_without_node_a_javascript_file_is_refused_clearly(pm2_data: Path) -> None:
    path = str(pm2_data / "cluster/ecosystem.config.js")
    with pytest.raises(ImportRefused, match="node is not installed here") as refused:
        read(path, None, {"PATH": str(pm2_data / "no-such-dir")})
    assert "apt-get install nodejs" in str(refused.value)


@needs_node
def test_cpu_counts_old_keys_and_pm2s_split_of_args(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "cluster/ecosystem.config.js")
    web, queue = (app.keys for app in imported.apps)
    cpus = os.cpu_count() or 1
    assert web["instances"] == cpus  # "max"
    assert str(web["cmd"]).endswith("/bin/app.js --port 8080 --host 127.0.0.1")  # " --port"
    env = web["env"]
    assert isinstance(env, dict)
    assert env["PORT"] == "808{instance}"  # increment_var
    assert env["FEATURE_FLAGS"] == '{{"search":true}}'  # an object, as JSON; braces literal
    assert env["CPUS"] == str(cpus)
    assert web["backoff"] == {"initial": "100ms", "multiplier": 1.5, "max": "15000ms"}
    assert (web["min_uptime"], web["max_restarts"], web["log_time"]) == ("5000ms", 10, True)
    assert queue["cmd"] == "sleep 620" and queue["instances"] == 1  # cmd: PM2's old script
    notes = notes_by_line(imported)
    assert notes["ecosystem.config.js", 12].startswith("instances: 'max' is PM2's count of CPUs")
    assert "PORT (808{instance}, from increment_var)" in notes["ecosystem.config.js", 13]
    assert notes["ecosystem.config.js", 20].startswith("merge_logs: PM2 wrote all instances")
    assert notes["ecosystem.config.js", 28] == "cmd: PM2's old name of script: read as script"
    assert notes["ecosystem.config.js", 31].startswith("listen_timeout: PM2 waited")


@needs_node
def test_apps_as_an_object_in_a_cjs_file(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "object/ecosystem.config.cjs")
    apps = apps_of(imported)
    assert list(apps) == ["mailer", "cache-warmer"]
    assert apps["mailer"]["instances"] == 2  # "2"
    assert apps["mailer"]["cmd"][:2] == ["python3", "-c"]  # type: ignore[index]
    assert apps["mailer"]["env"]["SMTP_PORT"] == "2525"  # type: ignore[index]
    warmer = apps["cache-warmer"]
    assert (warmer["restart"], warmer["cmd"]) == ("never", "sleep 630")
    assert warmer["backoff"] == {"initial": "3000ms", "multiplier": 1, "max": "3000ms"}
    notes = notes_by_line(imported)
    assert notes["ecosystem.config.cjs", 16].startswith("namespace: not imported")
    assert imported.apps[1].origin.endswith("ecosystem.config.cjs:11")  # its key's line


@needs_node
def test_esm_export_default_and_wait_ready(pm2_data: Path) -> None:
    ssr = read_pm2(pm2_data, "esm/ecosystem.config.mjs").apps[0].keys
    assert (ssr["instances"], ssr["stop_timeout"], ssr["log_time"]) == (2, "6000ms", True)
    ready = read_pm2(pm2_data, "ready/ecosystem.config.js")
    keys = ready.apps[0].keys
    assert keys["ready"] == {"notify": True, "start_timeout": "10000ms"}
    assert keys["env"]["PYTHONUNBUFFERED"] == "1"  # type: ignore[index]  # as PM2 sets it
    note = notes_by_line(ready)["ecosystem.config.js", 8]
    assert "process.send('ready') must become sd_notify's READY=1" in note


def test_json_restart_watch_and_paths(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "json/pm2.json")
    billing, reports = (app.keys for app in imported.apps)
    assert billing["cmd"] == "python3 bin/worker.py"
    assert billing["cwd"] == str(pm2_data)  # "..", from the file's directory
    assert billing["restart"] == "on-failure"  # stop_exit_codes [0]
    assert (billing["min_uptime"], billing["max_memory"], billing["max_restarts"]) == (
        "5s",
        "1G",
        3,
    )
    assert billing["env"]["RETRIES"] == "3"  # type: ignore[index]
    assert reports["watch"] == {
        "paths": [str(pm2_data / "json" / "../bin")],
        "ignore": ["*.log", "node_modules", "tmp/"],
        "delay": "1000ms",
    }
    assert (reports["autostart"], reports["cron_restart"]) == (False, "30 2 * * 1")
    notes = notes_by_line(imported)
    assert notes["pm2.json", 10].startswith("max_restarts: PM2 counted restarts in a row")
    assert notes["pm2.json", 17].startswith("out_file: not needed")
    assert notes["pm2.json", 19].startswith("log_date_format: 'YYYY-MM-DD HH:mm:ss'")


@needs_node
def test_json_that_is_javascript_is_read_as_pm2_reads_it(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "json5/processes.json")
    [legacy] = imported.apps
    assert legacy.keys["cmd"] == "node ../bin/app.js"
    assert legacy.keys["instances"] == (os.cpu_count() or 1)  # 0
    assert legacy.keys["stop_timeout"] == "3500ms"
    notes = notes_by_line(imported)
    assert notes["processes.json", 9].startswith("instances: 0 is PM2's count of CPUs")
    assert notes["processes.json", 14] == "pid_file: not needed: procward status shows the pids"


def test_yaml_with_spaces_before_colons(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "yaml/ecosystem.yml")
    gateway, indexer = (app.keys for app in imported.apps)
    assert (gateway["cmd"], gateway["instances"], gateway["stop_timeout"]) == (
        "node ../bin/app.js",
        2,
        "3000ms",
    )
    assert gateway["env"]["GATEWAY_PORT"] == "8443"  # type: ignore[index]
    assert (indexer["cmd"], indexer["max_memory"]) == ("sleep 650", "512M")  # interpreter: none
    notes = notes_by_line(imported)
    assert notes["ecosystem.yml", 11].startswith("env_production: used by pm2 start")
    assert notes["ecosystem.yml", 19].startswith("treekill: not imported")
    assert notes["ecosystem.yml", 20].startswith("shutdown_with_message: not imported")


def test_a_jlist_becomes_one_app_per_name(pm2_data: Path) -> None:
    imported = read_pm2(pm2_data, "jlist/jlist.json")
    apps = apps_of(imported)
    assert list(apps) == ["web", "ticker", "backfill"]
    web = apps["web"]
    assert web["instances"] == 2 and web["cwd"] == "/tmp"
    assert web["cmd"][0] == "/usr/bin/python3"  # type: ignore[index]
    assert web["env"] == {
        "WEB_ROLE": "frontend",
        "PORT": "7000",
        "PYTHONUNBUFFERED": "1",
        "NODE_APP_INSTANCE": "{instance}",
    }
    assert (web["stop_timeout"], web["max_memory"]) == ("3000ms", 268435456)
    assert apps["ticker"]["cron_restart"] == "0 */6 * * *"
    assert (apps["backfill"]["autostart"], apps["backfill"]["restart"]) == (False, "never")
    said = " ".join(note.text for note in imported.notes)
    assert "9 variable(s) of the shell that started PM2 are left out" in said
    assert "backfill: not running when listed" in said


def test_a_dump_is_read_like_a_jlist(pm2_data: Path) -> None:
    apps = apps_of(read_pm2(pm2_data, "dump/dump.pm2"))
    assert list(apps) == ["api", "sleeper"]
    assert (apps["api"]["instances"], apps["api"]["stop_timeout"]) == (2, "8000ms")
    assert apps["api"]["backoff"] == {"initial": "200ms", "multiplier": 1.5, "max": "15000ms"}
    assert apps["sleeper"]["cmd"] == "/usr/bin/sleep 680"
    assert apps["sleeper"]["env"]["SLEEPER"] == "yes"  # type: ignore[index]


def test_args_are_split_as_pm2_splits_them() -> None:
    assert split_args(" --port 3000") == ["--port", "3000"]
    assert split_args("-a \"two words\" 'and more'") == ["-a", "two words", "and more"]
    assert split_args('--title="a b" x') == ['--title="a b"', "x"]  # PM2 keeps those quotes
    assert split_args(["start", "--", "-p"]) == ["start", "--", "-p"]
    assert split_args(650) == ["650"]


def test_the_interpreter_pm2_would_choose(tmp_path: Path) -> None:
    (tmp_path / "server.js").write_text("")
    path = os.defpath
    assert command({"script": "npm", "args": "run start"}, str(tmp_path), path)[0] == [
        "npm",
        "run",
        "start",
    ]  # a program on PATH, as PM2 finds it
    node = {"script": "server.js", "node_args": ["--inspect"], "args": "-p 1"}
    assert command(node, str(tmp_path), path)[0] == ["node", "--inspect", "server.js", "-p", "1"]
    shell = {"script": "run.sh", "interpreter_args": "-e"}
    assert command(shell, str(tmp_path), path)[0] == ["bash", "-e", "run.sh"]
    assert command({"script": "./bin/www"}, str(tmp_path), path)[0] == ["node", "./bin/www"]
    words, notes = command({"cmd": "gunicorn", "node_args": "--x"}, str(tmp_path), path)
    assert words == ["gunicorn"]
    assert [key for key, _ in notes] == ["cmd", "node_args"]


def test_key_lines_follow_each_app() -> None:
    text = "apps: {\n  web: {\n    script: 'a.js',\n    kill_timeout: 1,\n  },\n"
    text += "  worker: {\n    kill_timeout: 2,\n    name: 'jobs',\n  },\n}\n"
    lines = KeyLines(text, [("web", "a.js"), ("jobs", "b.js")])
    assert lines.anchors == [2, 8]
    assert (lines.line(0, "kill_timeout"), lines.line(1, "kill_timeout")) == (4, 7)
    assert lines.line(1, "cwd") == 0  # not written
    prefixed = KeyLines(
        "[{\n name: 'api-ready',\n},\n{ name: \"api\" }]", [("api-ready", ""), ("api", "")]
    )
    assert prefixed.anchors == [2, 4]  # 'api' is not the start of 'api-ready'


def test_detection_by_name_and_by_content(tmp_path: Path) -> None:
    for name in ("ecosystem.json", "app.config.js", "pm2-apps.yml", "dump.pm2"):
        assert detect(str(tmp_path / name)) == "pm2"
    apps = tmp_path / "services.yaml"
    apps.write_text("apps:\n  - name: web\n    script: server.js\n")
    assert detect(str(apps)) == "pm2"
    listed = tmp_path / "running.txt"
    listed.write_text('[{"name":"a","pm2_env":{"pm_exec_path":"/bin/sleep"}}]')
    assert detect(str(listed)) == "pm2"
    procfile = os.path.join(DATA, "procfile/heroku/Procfile")
    with pytest.raises(ImportRefused, match="--env selects PM2's env_NAME"):
        read(procfile, None, {}, "production")


def test_unreadable_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ecosystem.yml"
    path.write_text("apps:\n  - name: web\n    script: [unclosed\n")
    with pytest.raises(ImportRefused, match=r"ecosystem.yml:4: not YAML"):
        read(str(path), None, {})
    empty = tmp_path / "pm2.json"
    empty.write_text('{"deploy": {}}')
    with pytest.raises(ImportRefused, match="no 'apps' in it"):
        read(str(empty), None, {})


@needs_node
def test_node_gets_a_deadline_and_bounded_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pm2node, "NODE_TIMEOUT", 1.0)
    slow = tmp_path / "ecosystem.config.js"
    slow.write_text("for (;;) {}\n")
    with pytest.raises(ImportRefused, match=r"node ran .* for 1s: stopped"):
        read(str(slow), None, dict(os.environ))
    monkeypatch.setattr(pm2node, "_MAX_OUTPUT", 1000)
    loud = tmp_path / "loud.config.js"
    loud.write_text('module.exports = { apps: [{ script: "x".repeat(5000) }] };\n')
    with pytest.raises(ImportRefused, match="node printed more than"):
        read(str(loud), None, dict(os.environ))
