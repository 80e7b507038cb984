"""The typed arguments of each command, the global options included.

Each command's function takes an ``Arguments`` subclass naming exactly the
options and arguments its entry in the command table (``cli/main.py``) sets,
checked by ``tests/cli/test_args.py``, so mypy checks every use of them.
Commands with the same arguments share a class.
"""

from __future__ import annotations

from procward.kit._argv import Arguments


class Globals(Arguments):
    """The options before the command; ``json`` is also each command's ``--json``."""

    instance: str | None
    project: str | None
    connect: str | None
    ca_file: str | None
    client_cert: str | None
    client_key: str | None
    json: bool
    version: bool


class AppArgs(Globals):
    """A command about one app: ``NAME``."""

    name: str


class AppsArgs(Globals):
    """A command about one app or all: ``[NAME]``."""

    name: str | None


class RunArgs(Globals):
    detached: bool
    idle_shutdown: float | None
    config: str | None
    exit_on: str | None
    logs: bool
    no_log_files: bool


class UpArgs(Globals):
    config: str | None


class TimeoutArgs(Globals):
    """``down`` and ``upgrade``."""

    timeout: float


class PingArgs(Globals):
    no_spawn: bool


class ServiceArgs(Globals):
    socket: bool
    kind: str


class StartupArgs(ServiceArgs):
    force: bool


class LogsArgs(AppsArgs):
    lines: int
    follow: bool
    out: bool
    err: bool
    index: int | None
    since: str | None
    reopen: bool


class EventsArgs(AppsArgs):
    lines: int
    follow: bool
    since: str | None


class StartArgs(AppsArgs):
    app_name: str | None
    instances: int
    cwd: str | None
    env: list[str]
    restart: str
    cmd: list[str]


class StopArgs(AppArgs):
    force: bool
    timeout: float | None


class ScaleArgs(AppArgs):
    count: int


class UptimeArgs(AppsArgs):
    days: int


class InspectArgs(AppArgs):
    lines: int


class MetricsArgs(AppsArgs):
    on: bool
    off: bool
    interval: float | None


class EnvArgs(AppArgs):
    index: int


class ExecArgs(AppArgs):
    index: int
    timeout: str | None
    command: str | None
    cmd: list[str]


class WatchArgs(Globals):
    on: bool
    off: bool
    names: list[str]


class PromptArgs(Globals):
    always: bool


class NetworkArgs(Globals):
    tcp: str | None
    http: str | None
    off: bool
    tls_cert: str | None
    tls_key: str | None
    tls_client_ca: str | None
    no_tls: bool


class TokenArgs(Globals):
    ttl: str
    subject: str | None
    action: str
    what: str | None


class AuditArgs(Globals):
    lines: int
    since: str | None
    method: str | None


class FleetArgs(Globals):
    action: str
    node: str | None


class SecretArgs(Globals):
    from_file: str | None
    raw: bool
    reload: bool
    action: str
    name: str | None


class DashboardArgs(Globals):
    print_url: bool
    role: str
    ttl: str


class CompletionArgs(Globals):
    shell: str


class CompleteArgs(Globals):
    """The hidden ``__complete``: what the shell script asks for (``apps``)."""

    what: str


class ImportArgs(Globals):
    file: str
    output: str | None
    kind: str | None
    env_name: str | None
    force: bool
