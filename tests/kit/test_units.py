"""systemd units and launchd plists: the text an init system will read."""

from __future__ import annotations

import plistlib
import shlex
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from procward.kit._units import launchd_plist, systemd_units

ARGV = ["/usr/bin/python3", "-m", "procward.daemon", "--home", "/srv/my app/state"]


def sections(unit: str) -> dict[str, list[tuple[str, str]]]:
    """Parse unit-file text into ``{section: [(key, value), ...]}``, keeping repeats."""
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in unit.splitlines():
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        assert current is not None, f"{line!r} is outside any section"
        current.append((key, value))
    return out


def values(unit: str, section: str, key: str) -> list[str]:
    return [v for k, v in sections(unit)[section] if k == key]


# -- systemd -------------------------------------------------------------------------


def test_a_plain_service_is_type_notify_and_has_no_socket() -> None:
    units = systemd_units("procward", ARGV, description="Procward supervisor")
    assert list(units) == ["procward.service"]
    service = units["procward.service"]
    assert set(sections(service)) == {"Unit", "Service", "Install"}
    assert values(service, "Unit", "Description") == ["Procward supervisor"]
    assert values(service, "Unit", "Requires") == []
    assert values(service, "Service", "Type") == ["notify"]
    assert values(service, "Service", "NotifyAccess") == ["main"]
    assert values(service, "Service", "TimeoutStopSec") == ["30"]
    assert values(service, "Service", "WatchdogSec") == []
    assert values(service, "Install", "WantedBy") == ["default.target"]
    assert service.endswith("\n")


def test_the_service_delegates_its_cgroup_to_the_daemon() -> None:
    """Decision 0039: the daemon makes a cgroup per instance in the unit's cgroup."""
    service = systemd_units("procward", ARGV, description="d")["procward.service"]
    assert values(service, "Service", "Delegate") == ["yes"]
    assert values(service, "Service", "KillMode") == ["mixed"]


def test_exec_start_quotes_arguments_with_spaces() -> None:
    service = systemd_units("procward", ARGV, description="d")["procward.service"]
    [exec_start] = values(service, "Service", "ExecStart")
    assert exec_start == '/usr/bin/python3 -m procward.daemon --home "/srv/my app/state"'
    assert shlex.split(exec_start) == ARGV


def test_exec_start_keeps_percent_and_dollar_literal() -> None:
    service = systemd_units("p", ["/bin/x", "--fmt=%h", "$HOME"], description="d")["p.service"]
    [exec_start] = values(service, "Service", "ExecStart")
    # systemd expands %h and $HOME even inside quotes; literal ones are written %% and $$.
    assert "%%h" in exec_start
    assert "$$HOME" in exec_start


def test_environment_lines_are_sorted_and_quoted() -> None:
    env = {"PROCWARD_LOG": "debug", "GREETING": "hello world", "EMPTY": ""}
    service = systemd_units("procward", ARGV, description="d", environment=env)["procward.service"]
    lines = values(service, "Service", "Environment")
    assert lines == ["EMPTY=", '"GREETING=hello world"', "PROCWARD_LOG=debug"]
    assert [shlex.split(line)[0] for line in lines] == [
        "EMPTY=",
        "GREETING=hello world",
        "PROCWARD_LOG=debug",
    ]


def test_watchdog_and_stop_timeout_are_written_when_given() -> None:
    service = systemd_units("p", ARGV, description="d", stop_timeout=2.5, watchdog=10)["p.service"]
    assert values(service, "Service", "TimeoutStopSec") == ["2.5"]
    assert values(service, "Service", "WatchdogSec") == ["10"]


def test_a_socket_path_adds_a_private_socket_unit_the_service_requires() -> None:
    units = systemd_units("procward", ARGV, description="Procward", socket_path="/run/pw/d.sock")
    assert sorted(units) == ["procward.service", "procward.socket"]
    service, sock = units["procward.service"], units["procward.socket"]
    assert values(service, "Unit", "Requires") == ["procward.socket"]
    assert values(service, "Unit", "After") == ["procward.socket"]
    assert set(sections(sock)) == {"Unit", "Socket", "Install"}
    assert values(sock, "Unit", "Description") == ["Procward (socket)"]
    assert values(sock, "Socket", "ListenStream") == ["/run/pw/d.sock"]
    assert values(sock, "Socket", "SocketMode") == ["0600"]
    assert values(sock, "Socket", "DirectoryMode") == ["0700"]
    assert values(sock, "Socket", "FileDescriptorName") == ["procward"]
    assert values(sock, "Install", "WantedBy") == ["sockets.target"]


# -- launchd -------------------------------------------------------------------------


def test_launchd_plist_is_well_formed_with_the_arguments_in_order() -> None:
    args = ["/usr/local/bin/procward", "daemon", "--name", "a<b>&c", "'q' \"d\""]
    text = launchd_plist(
        "org.example.procward",
        args,
        log_path="/Users/me/Library/Logs/procward & co.log",
        environment={"PATH": "/usr/bin", "A": "x<y"},
    )
    root = ET.fromstring(text.encode())
    assert root.tag == "plist"
    array = root.find("dict/array")
    assert array is not None
    assert [el.text for el in array.findall("string")] == args
    plist = plistlib.loads(text.encode())
    assert plist == {
        "Label": "org.example.procward",
        "ProgramArguments": args,
        "EnvironmentVariables": {"A": "x<y", "PATH": "/usr/bin"},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": "/Users/me/Library/Logs/procward & co.log",
        "StandardErrorPath": "/Users/me/Library/Logs/procward & co.log",
    }


def test_launchd_plist_without_environment_has_an_empty_dict() -> None:
    plist = plistlib.loads(launchd_plist("l", ["/bin/x"], log_path="/tmp/l.log").encode())
    assert plist["EnvironmentVariables"] == {}


# Characters XML 1.0 can carry unchanged in element text.
xml_text = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=20,
)


@given(
    label=xml_text,
    args=st.lists(xml_text, min_size=1, max_size=5),
    env=st.dictionaries(xml_text, xml_text, max_size=3),
)
def test_launchd_plist_round_trips_any_text(
    label: str, args: list[str], env: dict[str, str]
) -> None:
    plist = plistlib.loads(launchd_plist(label, args, log_path="/l", environment=env).encode())
    assert (plist["Label"], plist["ProgramArguments"], plist["EnvironmentVariables"]) == (
        label,
        args,
        env,
    )
