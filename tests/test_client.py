"""``procward.Client`` and ``AsyncClient`` against real daemons: records, errors, streams, remotes.

Each test has its own PROCWARD_HOME and XDG_CONFIG_HOME (for remotes.toml);
network listeners are on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator

import pytest

from procward import AsyncClient, Client, Notification
from procward.kit import Forbidden, InvalidParams, NotFound, Unauthorized
from procward.kit.testing import wait_for
from procward.remotes import RemotesError
from procward.replies import AppsChanged, AppView, DaemonStatus, Ping
from procward.reports import Event, LogEntry, TokenCreated

TICK = """\
[apps.tick]
cmd = ["sh", "-c", "while true; do echo tick; sleep 0.05; done"]
"""


@pytest.fixture
def config_home(monkeypatch: pytest.MonkeyPatch, home: str) -> str:
    path = os.path.join(home, "config")
    os.makedirs(path, mode=0o700)
    monkeypatch.setenv("XDG_CONFIG_HOME", path)
    return path


@pytest.fixture
def pw(home: str, config_home: str, cli: Callable[..., object]) -> Iterator[Client]:
    """A running daemon with one app that prints ``tick``, and a client of it."""
    with open(os.path.join(home, "procward.toml"), "w") as f:
        f.write(TICK)
    client = Client()
    client.loadConfig(path=os.path.join(home, "procward.toml"))
    yield client
    client.close()
    assert cli("down").code == 0  # type: ignore[attr-defined]


def connections(pw: Client) -> int:
    """The daemon's open connections, this client's own not counted."""
    count: int = pw.status().daemon.connections
    return count - 1


def tcp_with_token(pw: Client, role: str = "admin") -> tuple[str, str]:
    address = pw.setNetwork(tcp="127.0.0.1:0").addresses["tcp"]
    return address, pw.createToken(role=role, subject=f"test {role}").token


def write_remotes(config_home: str, text: str, mode: int = 0o600) -> str:
    path = os.path.join(config_home, "procward", "remotes.toml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# -- typed methods ---------------------------------------------------------------------


def test_replies_are_records_and_errors_the_kits(pw: Client) -> None:
    assert isinstance(pw.ping(), Ping)
    status = pw.status()
    assert isinstance(status, DaemonStatus)
    assert [app.name for app in status.apps] == ["tick"]
    apps = pw.list()
    assert isinstance(apps[0], AppView)
    restarted = pw.restartApp(name="tick")
    assert isinstance(restarted, AppsChanged)
    assert restarted.apps[0].name == "tick"
    wait_for(lambda: any(isinstance(e, LogEntry) and e.lines for e in pw.getLogs(name="tick")))
    assert all(isinstance(e, Event) for e in pw.getEvents(name="tick"))
    assert pw.getEnv(name="tick")["PATH"]  # no record: the dict as it came
    with pytest.raises(NotFound, match="no app named 'nope'"):
        pw.getApp(name="nope")
    with pytest.raises(InvalidParams):
        pw.scale(name="tick", instances="two")  # type: ignore[arg-type]


def test_none_is_left_out_so_the_daemons_default_applies(pw: Client) -> None:
    entries = pw.getLogs(name=None, stream=None, instance=None, since=None, lines=5)
    assert {entry.app for entry in entries} == {"tick"}


def test_call_reaches_any_method_by_name_and_returns_it_as_it_came(pw: Client) -> None:
    assert pw.call("ping")["pid"] == pw.ping().pid


def test_async_client_has_the_same_methods(pw: Client) -> None:
    async def main() -> None:
        async with AsyncClient() as apw:
            assert (await apw.ping()).pid == pw.ping().pid
            assert [app.name for app in await apw.list()] == ["tick"]
            with pytest.raises(NotFound):
                await apw.getApp(name="nope")

    asyncio.run(main())


# -- streams ---------------------------------------------------------------------------


def test_a_stream_yields_notifications_and_a_broken_loop_ends_its_connection(
    pw: Client,
) -> None:
    before = connections(pw)
    for note in pw.followLogs(name="tick"):
        assert isinstance(note, Notification)
        if note.method == "log":
            assert note.params["app"] == "tick"
            break
    wait_for(lambda: connections(pw) == before, what="the stream's connection to end")


def test_a_stream_in_a_with_block_ends_with_it(pw: Client) -> None:
    before = connections(pw)
    with pw.followEvents() as events:
        assert next(events).method == "following"
        assert connections(pw) == before + 1
        pw.restartApp(name="tick")
        assert any(note.method == "event" for note in events)  # stops at the first
    assert events.closed
    wait_for(lambda: connections(pw) == before, what="the stream's connection to end")


def test_async_streams_end_their_connection_on_break_and_on_aclose(pw: Client) -> None:
    before = connections(pw)

    async def main() -> None:
        async with AsyncClient() as apw:
            async for note in apw.followLogs(name="tick"):
                if note.method == "log":
                    break
            stream = apw.followEvents()
            async for note in stream:
                assert note.method == "following"
                break
            await stream.aclose()
            assert stream.closed

    asyncio.run(main())
    wait_for(lambda: connections(pw) == before, what="the streams' connections to end")


def test_a_stream_of_an_unknown_app_raises_the_daemons_error(pw: Client) -> None:
    before = connections(pw)
    stream = pw.followLogs(name="nope")
    with pytest.raises(NotFound):
        next(stream)
    assert stream.closed
    wait_for(lambda: connections(pw) == before)


# -- remote daemons --------------------------------------------------------------------


def test_a_remote_alias_with_a_token_file(pw: Client, config_home: str) -> None:
    address, token = tcp_with_token(pw, "viewer")
    token_file = os.path.join(config_home, "procward", "lab.token")
    os.makedirs(os.path.dirname(token_file), exist_ok=True)
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(token + "\n")
    write_remotes(config_home, f'[lab]\nurl = "tcp://{address}"\ntoken_file = "lab.token"\n')
    with Client(remote="lab") as remote:
        assert remote.ping().pid == pw.ping().pid
        assert remote.paths is None
        assert [app.name for app in remote.list()] == ["tick"]
        with pytest.raises(Forbidden, match="needs the operator role"):
            remote.restartApp(name="tick")
        before = connections(pw)
        for note in remote.followLogs(name="tick"):
            if note.method == "log":
                break
        wait_for(lambda: connections(pw) == before)


def test_a_remote_alias_with_a_token_command_for_the_async_client(
    pw: Client, config_home: str
) -> None:
    address, token = tcp_with_token(pw, "operator")
    command = [sys.executable, "-c", f"print({token!r})"]
    write_remotes(config_home, f'[lab]\nurl = "{address}"\ntoken_command = {json.dumps(command)}\n')

    async def main() -> None:
        async with AsyncClient(remote="lab") as remote:
            assert (await remote.restartApp(name="tick")).apps[0].name == "tick"

    asyncio.run(main())


def test_connect_by_url_and_without_a_token(pw: Client) -> None:
    address, token = tcp_with_token(pw)
    with Client.connect(f"tcp://{address}", token=token) as remote:
        made = remote.createToken(role="viewer", ttl="1m")
        assert isinstance(made, TokenCreated)
    with Client.connect(address) as anonymous:
        assert anonymous.ping().pid > 0
        with pytest.raises(Unauthorized):
            anonymous.status()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o620, 0o604])
def test_a_looser_remotes_file_is_refused_saying_how_to_fix_it(config_home: str, mode: int) -> None:
    path = write_remotes(config_home, '[lab]\nurl = "tcp://127.0.0.1:9"\n', mode)
    with pytest.raises(RemotesError) as refused:
        Client(remote="lab")
    assert str(refused.value) == (
        f"the remotes file {path} has mode {mode:04o}: others may read or change it, and it "
        f"says where tokens are; fix it with: chmod 600 {path}"
    )


def test_a_remotes_file_with_mistakes_names_each(config_home: str) -> None:
    write_remotes(
        config_home,
        '[a]\nurl = "tcp://127.0.0.1:9"\ntoken = "x"\n[b]\ntoken_file = "t"\ntoken_command = "c"\n'
        '[c]\nurl = "https://127.0.0.1:9"\n',
    )
    with pytest.raises(RemotesError) as refused:
        Client(remote="a")
    said = str(refused.value)
    assert "[a] has an unknown key 'token'" in said
    assert "[b] needs url" in said
    assert "[b] has token_file and token_command: keep one" in said
    assert "[c] url 'https://127.0.0.1:9': the daemon speaks tcp://" in said


def test_an_unknown_alias_says_where_it_was_looked_for(config_home: str) -> None:
    with pytest.raises(RemotesError, match=r"no remote 'prod' in .*/procward/remotes.toml"):
        Client(remote="prod")
