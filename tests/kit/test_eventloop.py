"""keep_openssl_out: asyncio and uvloop without OpenSSL, in a fresh interpreter each."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


SERVES_WITHOUT_OPENSSL = """
import os, sys, tempfile
from procward.kit._eventloop import event_loop_factory, keep_openssl_out, openssl_loaded

scratch = tempfile.TemporaryDirectory()  # removed when the interpreter exits

assert keep_openssl_out() is True
import asyncio, asyncio.sslproto
assert asyncio.sslproto.ssl is None  # asyncio's own "no OpenSSL" configuration
assert "ssl" not in sys.modules and not openssl_loaded()

async def main():
    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
    path = os.path.join(scratch.name, "s")
    server = await asyncio.start_unix_server(echo, path)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"hello\\n")
    assert await reader.readline() == b"hello\\n"
    writer.close()
    server.close()
    return type(asyncio.get_running_loop()).__module__

with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
    print(runner.run(main()))
assert not openssl_loaded()

import ssl  # the real module is still there for whoever needs it later
assert ssl.SSLContext.__module__ == "_ssl" or ssl.SSLContext.__module__ == "ssl"
assert openssl_loaded()
print("ok")
"""


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_serves_a_unix_socket_without_openssl(loop: str) -> None:
    code = f"import os; os.environ['DAEMONKIT_LOOP'] = {loop!r}\n" + SERVES_WITHOUT_OPENSSL
    result = run(code)
    assert result.returncode == 0, result.stderr
    module, ok = result.stdout.split()
    assert ok == "ok"
    assert module == ("uvloop" if loop == "auto" else "asyncio.unix_events")


def test_too_late_once_asyncio_is_loaded() -> None:
    result = run(
        "import asyncio\n"
        "from procward.kit._eventloop import keep_openssl_out, openssl_loaded\n"
        "print(keep_openssl_out(), openssl_loaded())\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]  # nothing changed, and it says so


ASKS_FOR_TLS = """
import os, tempfile
from procward.kit._eventloop import TLSUnavailable, event_loop_factory, keep_openssl_out

scratch = tempfile.TemporaryDirectory()  # removed when the interpreter exits

assert keep_openssl_out()
import asyncio, ssl
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

async def main():
    path = os.path.join(scratch.name, "s")
    try:
        await asyncio.get_running_loop().create_unix_server(asyncio.Protocol, path, ssl=context)
    except (TLSUnavailable, AttributeError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "served TLS"

with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
    print(runner.run(main()))
"""


def test_a_tls_server_is_refused_with_the_reason() -> None:
    result = run(ASKS_FOR_TLS)  # uvloop: the stand-in is asked, and says why
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "TLSUnavailable: TLS is unavailable: this process started without OpenSSL "
        "(keep_openssl_out)"
    )


def test_the_daemons_loop_variable_comes_first_the_kits_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from procward.kit._eventloop import event_loop_factory, loop_wanted

    monkeypatch.delenv("TOOL_LOOP", raising=False)
    monkeypatch.delenv("DAEMONKIT_LOOP", raising=False)
    assert loop_wanted("tool") == "auto"
    monkeypatch.setenv("DAEMONKIT_LOOP", "asyncio")  # the kit's own name, still read
    assert loop_wanted("tool") == "asyncio" and event_loop_factory("tool") is None
    monkeypatch.setenv("TOOL_LOOP", "auto")
    assert loop_wanted("tool") == "auto" and loop_wanted() == "asyncio"
    monkeypatch.delenv("DAEMONKIT_LOOP")
    monkeypatch.setenv("TOOL_LOOP", "asyncio")
    assert event_loop_factory("tool") is None
