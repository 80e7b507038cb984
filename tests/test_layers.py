"""The import contract between layers, read from the source, and the CLI's start-up cost.

- ``procward.kit`` is standalone: it imports nothing else from procward, not even
  ``procward._version``, so any tool can build a daemon on it.
- ``procward.cli`` talks to a daemon only through the client side of the kit; it never
  imports the daemon or the supervisor.
- ``procward.supervision`` builds on the kit alone.

Every import counts, including those inside functions and ``if TYPE_CHECKING:`` blocks:
a layer violation is one even when it is lazy.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

import procward

PACKAGE_DIR = os.path.dirname(procward.__file__)

CLI_MAY_IMPORT_FROM_KIT = {
    "argv",
    "signals",
    "client",
    "fastjson",
    "wire",
    "errors",
    "paths",
    "metadata",
    "control",
    "units",
    "lock",
    "spawn",
    "atomic",
    "procinfo",
    "tls",  # only with --ca-file or --client-cert
    "completion",  # only for `procward completion SHELL`
}
CLI_ALLOWED = {
    "procward._spawning",  # the daemon's command, without the typed client (decision 0049)
    "procward.remotes",  # only for --connect NAME and @NAME
    "procward._version",
    "procward.replies",  # imported lazily, by the commands that render replies
    "procward.reports",
    "procward.importers",  # only for `procward import`
    *(f"procward.kit._{name}" for name in CLI_MAY_IMPORT_FROM_KIT),
}
SLOW_FOR_THE_CLI = [
    "asyncio",
    "typing",
    "dataclasses",
    "pathlib",
    "inspect",
    "logging",
    "subprocess",
    # The hot path (ping, status) needs none of these either: see decision 0005.
    "json",
    "re",
    "enum",
    "argparse",
    "socket",
]


def module_files() -> dict[str, str]:
    """``{dotted module name: file}`` for every module of the procward package."""
    found = {}
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for file in files:
            if not file.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, file), os.path.dirname(PACKAGE_DIR))
            parts = rel[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = os.path.join(root, file)
    return found


MODULES = module_files()


def is_package(module: str) -> bool:
    return MODULES[module].endswith("__init__.py")


def imports_of(module: str) -> set[str]:
    """Every procward module that ``module`` imports, anywhere in its body."""
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read(), MODULES[module])
    package = module if is_package(module) else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # `from procward.kit import _wire` imports the module procward.kit._wire
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return {name for name in out if name == "procward" or name.startswith("procward.")}


def in_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def modules_in(layer: str) -> list[str]:
    return sorted(m for m in MODULES if in_layer(m, layer))


def test_the_scanner_sees_imports() -> None:
    """Guard against a vacuous contract: known imports must be found."""
    assert "procward.kit._paths" in MODULES
    assert "procward.kit._errors" in imports_of("procward.kit._wire")
    # `from procward.kit import _wire as wire` imports procward.kit._wire
    assert "procward.kit._wire" in imports_of("procward.kit._client")
    assert "procward.kit._paths" in imports_of("procward.cli.main")
    assert modules_in("procward.kit")
    assert modules_in("procward.cli")
    assert "asyncio" in imported_by("import asyncio")


@pytest.mark.parametrize("module", modules_in("procward.kit"))
def test_kit_imports_only_kit(module: str) -> None:
    outside = {name for name in imports_of(module) if not in_layer(name, "procward.kit")}
    assert not outside, f"{module} imports {sorted(outside)}: the kit must stand alone"


@pytest.mark.parametrize("module", modules_in("procward.cli"))
def test_cli_imports_only_the_client_side(module: str) -> None:
    forbidden = {
        name
        for name in imports_of(module)
        if not in_layer(name, "procward.cli") and name not in CLI_ALLOWED
    }
    assert not forbidden, f"{module} imports {sorted(forbidden)}; allowed: {sorted(CLI_ALLOWED)}"


@pytest.mark.parametrize("module", modules_in("procward.cli"))
def test_cli_never_imports_the_daemon_or_the_supervisor(module: str) -> None:
    for name in imports_of(module):
        assert not in_layer(name, "procward.daemon"), f"{module} imports {name}"
        assert not in_layer(name, "procward.supervision"), f"{module} imports {name}"


def test_supervision_imports_only_the_kit_and_itself() -> None:
    modules = modules_in("procward.supervision")
    if not modules:
        pytest.skip("procward.supervision does not exist yet")
    for module in modules:
        outside = {
            name
            for name in imports_of(module)
            if not in_layer(name, "procward.kit") and not in_layer(name, "procward.supervision")
        }
        assert not outside, f"{module} imports {sorted(outside)}"


def imported_by(code: str) -> set[str]:
    """Modules a fresh interpreter imports to run ``code``, per ``-X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_the_cli_does_not_import_slow_modules() -> None:
    baseline = imported_by("pass")  # whatever the interpreter and site load anyway
    cli = imported_by("import procward.cli.main")
    assert "procward.cli.main" in cli
    slow = sorted(name for name in SLOW_FOR_THE_CLI if name in cli - baseline)
    assert not slow, f"importing procward.cli.main pulls in {slow}"


def test_the_cli_does_not_load_the_typed_client() -> None:
    """Decision 0049: the generated methods are for programs; ``procward ping`` and
    ``--connect NAME`` load neither them nor ``procward.client``."""
    loaded = imported_by("import procward.cli.main, procward.cli.remote, procward.remotes")
    assert "procward.cli.main" in loaded
    for module in ("procward.client", "procward._methods", "procward._streams", "tomllib"):
        assert module not in loaded


def test_ping_loads_no_other_commands_module() -> None:
    """Issue 18: the command table names each command's function (``"module:function"``)
    and imports its module only to run it; ``ping`` loads ``cli.ping`` and nothing of
    the other commands (they were ~2 ms of its start-up) nor ``render``'s tables (its
    uptime comes from ``cli.quantities``), nor ``math`` and ``_struct``
    (shared libraries that ``kit._fastjson`` and ``kit._client`` need no more)."""
    code = "from procward.cli.main import PARSER; PARSER.parse(['ping'])[0].func"
    loaded = imported_by(code)
    assert "procward.cli.ping" in loaded
    others = ("apps", "daemon", "dashboard", "fleet", "hooks", "importing", "logs", "render")
    for module in (*others, "secrets"):
        assert f"procward.cli.{module}" not in loaded
    assert "math" not in loaded and "_struct" not in loaded


def test_the_installed_command_loads_no_re() -> None:
    """Decision 0052: the wheel installs ``scripts/procward`` as the command, not an
    entry point whose wrapper (pip before 25.0) imports ``re``, ~10 ms of a ``ping``."""
    script = os.path.join(os.path.dirname(PACKAGE_DIR), "..", "scripts", "procward")
    if not os.path.exists(script):
        pytest.skip("not a checkout: no scripts/procward")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", script, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.startswith("procward ")
    loaded = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "procward.cli.main" in loaded
    assert "re" not in loaded - imported_by("pass")


def test_status_loads_no_other_commands_module() -> None:
    """``status`` has a module of its own: it loads none of the other commands about apps."""
    code = "from procward.cli.main import PARSER; PARSER.parse(['status'])[0].func"
    loaded = imported_by(code)
    assert "procward.cli.status" in loaded
    assert "procward.cli.apps" not in loaded and "procward.cli.daemon" not in loaded


def test_the_records_status_renders_import_nothing_slow() -> None:
    """``procward status`` decodes the daemon's reply with ``procward.replies``: its
    imports were once half of the command's time (``typing``, 20 ms)."""
    baseline = imported_by("pass")
    records = imported_by("import procward.replies, procward.reports, procward.cli.render")
    slow = sorted(name for name in SLOW_FOR_THE_CLI if name in records - baseline)
    assert not slow, f"importing procward.replies pulls in {slow}"


def test_the_daemon_does_not_load_the_clients_records() -> None:
    """The daemon names the record of each reply (``result="AppsChanged"``) but never
    imports them: 48 classes the daemon does not use were 0.4 MB of its RSS."""
    loaded = imported_by("import procward.daemon.service")
    assert "procward.daemon.service" in loaded
    assert "procward.replies" not in loaded and "procward.reports" not in loaded


def test_becoming_a_subreaper_does_not_load_ctypes() -> None:
    """One prctl at start, through ``_ctypes``: the ``ctypes`` package was 0.2 MiB of the
    idle daemon's RSS."""
    code = (
        "import sys; from procward.supervision.process import become_subreaper\n"
        "assert become_subreaper()"
    )
    assert "ctypes" not in imported_by(code)


def test_a_daemon_whose_apps_use_no_secrets_loads_nothing_for_them() -> None:
    """Issue 13: secrets cost the daemon nothing until an app refers to one."""
    code = (
        "import procward.daemon.service\n"
        "from procward.supervision.config import parse_config\n"
        "parse_config({'apps': {'a': {'cmd': 'x', 'env': {'A': '1'}}}}, base_dir='/')"
    )
    loaded = imported_by(code)
    assert "procward.daemon.service" in loaded
    for module in ("secretrefs", "credentials", "redaction"):
        assert f"procward.supervision.{module}" not in loaded


def test_the_secret_store_imports_only_the_kit_and_itself() -> None:
    for module in modules_in("procward.secretstore"):
        outside = {
            name
            for name in imports_of(module)
            if not in_layer(name, "procward.kit") and not in_layer(name, "procward.secretstore")
        }
        assert not outside, f"{module} imports {sorted(outside)}: the store is no daemon's"


CIPHER = ("nacl", "_cffi_backend", "cryptography", "_hashlib")


def test_neither_the_daemon_nor_the_cli_loads_a_cipher_until_a_secret_is_read() -> None:
    """An idle daemon makes its ``Secrets`` part but not the store; importing the store
    loads neither ``nacl`` (libsodium, through ``cffi``) nor ``cryptography`` nor
    ``hashlib`` (OpenSSL's libcrypto, decision 0008): only opening or sealing a store
    does, and then only ``nacl`` (decision 0034)."""
    daemon = imported_by("import procward.daemon.service, procward.daemon.parts.secrets")
    assert "procward.daemon.parts.secrets" in daemon
    assert "procward.secretstore" not in daemon
    assert not [name for name in CIPHER if name in daemon]
    store = imported_by("import procward.secretstore")
    assert not [name for name in CIPHER if name in store]
    cli = imported_by("import procward.cli.main, procward.cli.secrets")
    assert "procward.secretstore" not in cli
    assert not [name for name in CIPHER if name in cli]


def test_sealing_loads_libsodium_and_no_openssl() -> None:
    code = (
        "import os; from procward.secretstore.sealed import seal, unseal\n"
        "key = os.urandom(32); assert unseal(seal(b'v', key), [key]) == b'v'"
    )
    loaded = imported_by(code)
    assert "nacl" in loaded and "_cffi_backend" in loaded
    assert "cryptography" not in loaded and "_hashlib" not in loaded and "ssl" not in loaded


def test_an_idle_daemon_without_tls_loads_no_openssl() -> None:
    """Decision 0040: TLS costs nothing until configured. The daemon's entry keeps
    OpenSSL out (decision 0008); its network part and the kit's listeners then load
    neither ``ssl`` nor the TLS module."""
    code = (
        "from procward.kit._eventloop import keep_openssl_out; assert keep_openssl_out()\n"
        "import procward.daemon.service, procward.daemon.parts.network, procward.kit._network\n"
        "import sys; assert sys.modules.get('ssl') is None, 'ssl loaded'\n"
    )
    loaded = imported_by(code)
    assert "procward.daemon.parts.network" in loaded
    assert "procward.kit._tls" not in loaded and "_ssl" not in loaded


def test_a_daemon_without_cgroups_or_max_memory_loads_neither() -> None:
    """Decision 0039: the cgroup code loads only where the daemon uses cgroups, the
    memory guard only once an app with ``max_memory`` runs; finding out is a few reads."""
    code = (
        "import procward.daemon.service\n"
        "from procward.supervision.delegation import detect\n"
        "assert detect('/s', {'PROCWARD_CGROUP': 'off'}).base is None"
    )
    loaded = imported_by(code)
    assert "procward.daemon.service" in loaded
    for module in ("cgroups", "memoryguard", "metrics"):
        assert f"procward.supervision.{module}" not in loaded


def test_a_daemon_whose_apps_have_no_cron_restart_or_max_age_loads_no_recycling() -> None:
    """Decision 0041: the cron parser and the recycler (and ``zoneinfo``) load only for
    an app with ``cron_restart`` or ``max_age``; an app that starts and changes state
    without them arms nothing."""
    code = (
        "import asyncio, procward.daemon.service\n"
        "from procward.kit._paths import InstancePaths\n"
        "from procward.supervision.config import parse_config\n"
        "from procward.supervision.supervisor import Supervisor\n"
        "config = parse_config({'apps': {'a': {'cmd': 'x', 'max_memory': '1GB'}}}, base_dir='/')\n"
        "async def main():\n"
        "    sup = Supervisor(InstancePaths('procward', 't', '/nonexistent', '/nonexistent'))\n"
        "    for spec in config.apps.values():\n"
        "        app = sup.add(spec, 'test', desired=True)\n"
        "        sup.sync_watch(app)\n"
        "        sup.changed(app.name, True)\n"
        "    assert sup._recycler is None\n"
        "asyncio.run(main())\n"
    )
    loaded = imported_by(code)
    assert "procward.supervision.supervisor" in loaded
    for module in ("recycling", "cronexpr"):
        assert f"procward.supervision.{module}" not in loaded
    assert "zoneinfo" not in loaded


def test_the_importers_read_files_and_know_only_other_supervisors_keys() -> None:
    """``procward import`` needs no daemon: the importers use the kit and, for the answers
    procward gives about other supervisors' keys, ``supervision.otherkeys`` alone."""
    allowed = {"procward.supervision.otherkeys"}
    for module in modules_in("procward.importers"):
        outside = {
            name
            for name in imports_of(module)
            if not in_layer(name, "procward.kit")
            and not in_layer(name, "procward.importers")
            and name not in allowed
        }
        assert not outside, f"{module} imports {sorted(outside)}"


def test_the_cli_loads_the_importers_only_for_import() -> None:
    loaded = imported_by("import procward.cli.main")
    assert not [name for name in loaded if name.startswith("procward.importers")]


def test_fleet_imports_only_the_kit_supervision_and_itself() -> None:
    """The fleet is a layer beside the daemon: the daemon's part wires it, never the reverse."""
    for module in modules_in("procward.fleet"):
        outside = {
            name
            for name in imports_of(module)
            if not any(in_layer(name, layer) for layer in ("procward.kit", "procward.supervision"))
            and not in_layer(name, "procward.fleet")
        }
        assert not outside, f"{module} imports {sorted(outside)}"
