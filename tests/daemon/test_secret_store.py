"""``procward secret`` against real daemons: values in by stdin, a pipe, a file or a
terminal; never out (replies, the audit log, the log, any file of the instance)."""

from __future__ import annotations

import base64
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from procward.kit._client import Client
from procward.kit._errors import Conflict, Forbidden, InvalidParams
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from ..conftest import Result
from .conftest import LoadApps, wait_all_state

PLANTED = "pw-planted-7c1e-s3cr3t"


def secret_cli(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    """``procward ARGS`` with ``stdin`` piped in."""
    proc = subprocess.run(
        [sys.executable, "-m", "procward", *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def key_path(home: str) -> str:
    return os.path.join(home, ".keys", "default.key")


def sizes(client: Client) -> dict[str, int]:
    report = client.call("listSecrets")
    assert report["readable"], report["problem"]
    return {s["name"]: s["size"] for s in report["secrets"]}


def daemon_pid(client: Client) -> int:
    return int(client.call("ping")["pid"])


def test_set_from_a_pipe_and_list_shows_no_value(daemon: Client) -> None:
    done = secret_cli("secret", "set", "db_url", stdin=f"{PLANTED}\n".encode())
    assert done.code == 0, done.err
    assert done.out == f"secret db_url added ({len(PLANTED)} bytes)\n"
    assert secret_cli("secret", "set", "db_url", stdin=b"x\r\n").out.startswith(
        "secret db_url changed (1 bytes)"
    )
    assert secret_cli("secret", "set", "db_url", stdin=PLANTED.encode()).code == 0
    shown = secret_cli("secret", "list")
    assert shown.code == 0, shown.err
    assert shown.out.split("\n")[0].split() == ["NAME", "SIZE", "SET", "BY", "USED", "BY"]
    assert shown.out.split("\n")[1].split()[:3] == ["db_url", f"{len(PLANTED)}B", "0s"]
    as_json = secret_cli("secret", "list", "--json")
    assert as_json.code == 0 and '"db_url"' in as_json.out
    for out in (shown.out, as_json.out, str(daemon.call("listSecrets"))):
        assert PLANTED not in out


def test_set_from_a_file_raw_binary_and_bounds(daemon: Client, tmp_path: Path) -> None:
    text = tmp_path / "value.txt"
    text.write_bytes(b"line\n")
    assert secret_cli("secret", "set", "a", "--from-file", str(text)).code == 0
    assert secret_cli("secret", "set", "b", "--from-file", str(text), "--raw").code == 0
    binary = tmp_path / "value.bin"
    binary.write_bytes(b"\x00\xff\xfe\n")  # not UTF-8, with a NUL: sent as base64
    assert secret_cli("secret", "set", "c", "--from-file", str(binary)).code == 0
    assert sizes(daemon) == {"a": 4, "b": 5, "c": 3}

    empty = secret_cli("secret", "set", "d", stdin=b"\n")
    assert empty.code == 1 and "the value is empty; nothing was set" in empty.err
    big = secret_cli("secret", "set", "d", stdin=b"x" * (64 * 1024 + 1))
    assert big.code == 1 and "over 65536 bytes" in big.err
    bad = secret_cli("secret", "set", "no/slash", stdin=b"v")
    assert bad.code == 1 and "invalid secret name 'no/slash'" in bad.err
    missing = secret_cli("secret", "rm", "nosuch")
    assert missing.code == 1 and "no secret named 'nosuch'" in missing.err
    assert secret_cli("secret", "set").code == 2
    assert secret_cli("secret", "rm", "a").out == "secret a removed\n"
    assert sizes(daemon) == {"b": 5, "c": 3}


def test_set_at_a_terminal_asks_twice_and_never_echoes(daemon: Client) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(
        ["setsid", "-c", sys.executable, "-m", "procward", "secret", "set", "typed"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    screen = bytearray()

    def read_until(text: bytes) -> None:
        deadline = time.monotonic() + 20
        while text not in screen:
            assert time.monotonic() < deadline, f"no {text!r} on the terminal: {bytes(screen)!r}"
            if select.select([master], [], [], 0.5)[0]:
                try:
                    screen.extend(os.read(master, 4096))
                except OSError:  # EIO: the other side closed
                    break

    try:
        read_until(b"value of secret typed: ")
        os.write(master, PLANTED.encode() + b"\n")
        read_until(b"again, to be sure: ")
        os.write(master, PLANTED.encode() + b"\n")
        read_until(b"secret typed added")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert PLANTED.encode() not in screen, bytes(screen)
    assert sizes(daemon) == {"typed": len(PLANTED)}


def test_a_viewer_lists_but_cannot_change(daemon: Client) -> None:
    daemon.call("setSecret", name="db_url", value=PLANTED)
    address = daemon.call("setNetwork", tcp="127.0.0.1:0")["addresses"]["tcp"]
    viewer = daemon.call("createToken", role="viewer", subject="test viewer")["token"]
    operator = daemon.call("createToken", role="operator", subject="test operator")["token"]
    with Client.open_tcp(address, viewer) as remote:
        assert [s["name"] for s in remote.call("listSecrets")["secrets"]] == ["db_url"]
        for method, params in [
            ("setSecret", {"name": "x", "value": "y"}),
            ("removeSecret", {"name": "db_url"}),
            ("rotateSecretsKey", {}),
            ("resetSecrets", {}),
        ]:
            with pytest.raises(Forbidden, match=f"{method} needs the admin role"):
                remote.call(method, params)
    with Client.open_tcp(address, operator) as remote, pytest.raises(Forbidden):
        remote.call("setSecret", name="x", value="y")
    assert sizes(daemon) == {"db_url": len(PLANTED)}


def planted_in(root: str) -> list[str]:
    """Every file under ``root`` holding the planted value, as text or base64."""
    forms = [PLANTED.encode(), base64.b64encode(PLANTED.encode())]
    found = []
    for here, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(here, name)
            try:
                data = Path(path).read_bytes()
            except OSError:  # a socket
                continue
            if any(form in data for form in forms):
                found.append(path)
    return found


def test_changes_are_audited_without_the_value(
    daemon: Client, paths: InstancePaths, home: str
) -> None:
    assert secret_cli("secret", "set", "db_url", stdin=PLANTED.encode()).code == 0
    daemon.call("setSecret", ["by_position", PLANTED])  # positional params too
    encoded = base64.b64encode(PLANTED.encode()).decode()
    daemon.call("setSecret", name="blob", value=encoded, encoding="base64")
    with pytest.raises(InvalidParams, match="value is not valid base64") as bad:
        daemon.call("setSecret", name="x", value=PLANTED + "!", encoding="base64")
    assert PLANTED not in str(bad.value)
    with pytest.raises(InvalidParams, match=r"encoding must be utf-8 or base64$"):
        daemon.call("setSecret", name="x", value=PLANTED, encoding="latin-1")
    assert secret_cli("secret", "rm", "blob").code == 0
    assert secret_cli("secret", "rotate-key").code == 0

    audit = os.path.join(paths.log_dir, "audit.jsonl")
    wait_for(lambda: os.path.exists(audit) and b"rotateSecretsKey" in Path(audit).read_bytes())
    entries = daemon.call("getAudit", limit=100)
    changes = [(e["method"], e["params"]) for e in entries if "Secret" in e["method"]]
    assert ("setSecret", {"name": "db_url", "value": "***", "encoding": "utf-8"}) in changes
    assert ("setSecret", ["by_position", "***"]) in changes
    assert ("removeSecret", {"name": "blob"}) in changes
    assert ("rotateSecretsKey", {}) in changes or ("rotateSecretsKey", None) in changes
    assert PLANTED not in str(entries) and encoded not in str(entries)
    assert planted_in(paths.state_dir) == []
    assert planted_in(home) == []  # the key's directory too
    assert secret_cli("audit", "-n", "20").out.count("setSecret") >= 3


def test_a_wrong_key_is_said_clearly_and_the_daemon_keeps_serving(
    daemon: Client, paths: InstancePaths, home: str, load_apps: LoadApps
) -> None:
    load_apps("""
        [apps.plain]
        cmd = ["sleep", "1000"]
        min_start = "0s"
    """)
    daemon.call("setSecret", name="db_url", value=PLANTED)
    Path(key_path(home)).write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    for _ in range(2):
        shown = secret_cli("secret", "list")
        assert shown.code == 1
        assert "the secret store cannot be read: " in shown.err
        assert "was sealed with key" in shown.err and "procward secret reset" in shown.err
    assert daemon.call("status")["apps"][0]["name"] == "plain"
    wait_all_state(daemon, "plain", "running")
    with pytest.raises(Conflict, match=r"cannot set a secret: .* sealed with key"):
        daemon.call("setSecret", name="other", value="v")
    with open(paths.daemon_log) as log:
        said = [line for line in log if "the secret store cannot be read" in line]
    assert len(said) == 1, said  # once, not at every call

    reset = secret_cli("secret", "reset")
    assert reset.code == 0, reset.err
    assert "moved aside: " in reset.out and "secrets.enc.unreadable-" in reset.out
    assert secret_cli("secret", "list").out.startswith("no secrets")
    assert secret_cli("secret", "set", "db_url", stdin=b"new").code == 0
    assert sizes(daemon) == {"db_url": 3}


def test_a_loose_key_file_is_refused_with_the_fix(daemon: Client, home: str) -> None:
    daemon.call("setSecret", name="db_url", value=PLANTED)
    os.chmod(key_path(home), 0o644)
    shown = secret_cli("secret", "list")
    assert shown.code == 1
    assert f"Fix it with: chmod 600 {key_path(home)}" in shown.err
    os.chmod(key_path(home), 0o600)
    assert sizes(daemon) == {"db_url": len(PLANTED)}


def test_a_key_in_the_environment_is_used_and_no_key_file_is_made(
    cli: Callable[..., Result], paths: InstancePaths, home: str
) -> None:
    key = {"PROCWARD_SECRETS_KEY": base64.b64encode(os.urandom(32)).decode()}
    assert cli("up", env=key).code == 0
    try:
        assert secret_cli("secret", "set", "db_url", stdin=b"v").code == 0
        assert not os.path.exists(key_path(home))
        refused = secret_cli("secret", "rotate-key")
        assert refused.code == 1 and "the key comes from $PROCWARD_SECRETS_KEY" in refused.err
    finally:
        assert cli("down").code == 0
    assert cli("up").code == 0  # without the key now
    try:
        shown = secret_cli("secret", "list")
        assert shown.code == 1 and "exists but no key was found" in shown.err
    finally:
        assert cli("down").code == 0


def mapped(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as maps:
        return maps.read()


def loaded_cipher(maps: str) -> list[str]:
    """The shared objects of a cipher library among a process's mappings."""
    return [name for name in ("_sodium", "_cffi_backend", "cryptography") if name in maps]


def test_an_idle_daemon_with_ten_apps_loads_no_cipher(daemon: Client, load_apps: LoadApps) -> None:
    load_apps(
        "".join(f'\n[apps.app{n}]\ncmd = ["sleep", "1000"]\nmin_start = "0s"\n' for n in range(10))
    )
    for n in range(10):
        wait_all_state(daemon, f"app{n}", "running")
    pid = daemon_pid(daemon)
    assert not loaded_cipher(mapped(pid))
    assert daemon.call("listSecrets")["secrets"] == []  # no store: nothing to decrypt
    assert not loaded_cipher(mapped(pid))
    daemon.call("setSecret", name="db_url", value="v")
    if os.geteuid() == 0:  # the daemon is not dumpable now: its maps are root's to read
        maps = mapped(pid)
        assert "_sodium" in maps and "_cffi_backend" in maps  # the first read or write
        assert "cryptography" not in maps and "libcrypto" not in maps
