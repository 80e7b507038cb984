"""The daemon's other replies that the CLI renders, as typed records.

Health, metrics, uptime, events, hooks, logs, watch, the dependency graph,
``inspect``, ``exec``, tokens, secrets and the audit log: what ``replies.py`` says of
its records holds here too (checked decoding, wire names in ``_wire``, no
``typing`` at run time). They live apart so that ``procward status`` makes
only the classes it renders.
"""

from __future__ import annotations

from procward.kit._structs import Struct, field
from procward.replies import AppView

TYPE_CHECKING = False  # not `typing` (20 ms)
if TYPE_CHECKING:
    from typing import Any, ClassVar


# -- health -----------------------------------------------------------------------------


class InstanceHealth(Struct):
    index: int
    state: str
    check: str | None
    ready: str | None
    health: str | None
    passing: bool | None
    failures: int
    checks: int
    checked_at: float | None
    last_error: str | None


class AppHealth(Struct):
    name: str
    ready: str | None
    health: str | None
    healthy: bool
    instances: list[InstanceHealth]


class HealthReport(Struct):
    """``getHealth``."""

    apps: list[AppHealth]
    healthy: bool


# -- metrics ----------------------------------------------------------------------------


class Usage(Struct):
    """CPU and memory of a process group (the daemon's: its own process)."""

    pid: int | None
    cpu: float | None
    memory: int | None
    processes: int


class InstanceUsage(Usage):
    index: int
    state: str


class AppUsage(Struct):
    name: str
    instances: list[InstanceUsage]


class MetricsReport(Struct):
    """``getMetrics``."""

    daemon: Usage
    apps: list[AppUsage]
    enabled: bool
    interval: float
    sampled_at: float | None = None
    sampled: list[str] = field(default_factory=list)  # sampled apps, when not all are


class AppTrend(Struct):
    """One app in ``getTrends``: a value per sample (None: not measured then)."""

    name: str
    cpu: list[float | None]  # % of one core, its instances summed
    memory: list[float | None]  # bytes


class TrendsReport(Struct):
    """``getTrends``: the samples' times, oldest first, and each app's values at them."""

    enabled: bool
    interval: float
    times: list[float]
    apps: list[AppTrend]


# -- uptime -----------------------------------------------------------------------------


class DayUptime(Struct):
    day: str  # "2026-12-03", UTC
    up: float | None  # shares of the day; None: not counted
    partial: float | None
    down: float | None


class AppUptime(Struct):
    name: str
    uptime: float | None  # share of the counted time up; None: nothing counted
    counted: float
    now: str | None  # "up", "partial", "down"; None: not counted now
    days: list[DayUptime]


class UptimeReport(Struct):
    """``getUptime``."""

    days: int
    apps: list[AppUptime]


# -- events, logs, watch, graph ---------------------------------------------------------


class Event(Struct):
    """One entry of ``getEvents`` (and of ``followEvents``): an instance changed state."""

    time: float
    app: str
    instance: int
    pid: int | None
    was: str
    to: str
    why: str | None
    _wire: ClassVar[dict[str, str]] = {"was": "from"}


class HookView(Struct):
    """One hook (``getHooks``): what it acts on, and what became of its deliveries."""

    name: str
    on: list[str]
    kind: str  # "run" or "url"
    target: str  # the program, or the URL without its path
    signed: bool
    timeout: float
    retries: int
    apps: list[str]
    queued: int
    in_flight: int
    delivered: int
    failed: int  # given up on after the retries
    dropped: int  # pushed out of a full queue
    last_error: str | None = None
    last_error_at: float | None = None
    last_delivered_at: float | None = None


class LogEntry(Struct):
    """One log of ``getLogs``: an instance's stdout or stderr, its last lines."""

    app: str
    instance: int
    stream: str  # "out" or "err"
    lines: list[str]
    path: str | None = None
    note: str | None = None  # merged streams, skipped for --since...
    truncated: str | None = None  # the daemon's cap on one reply
    format: str | None = None  # "json" for an app that logs JSON
    open_line: bool = False  # followLogs' tail: its last line goes on in the next chunk


class Change(Struct):
    path: str
    time: float


class AppWatch(Struct):
    name: str
    watching: bool
    paths: list[str]
    restarts_by_watch: int
    last_change: Change | None = None
    error: str | None = None
    why_not: str | None = None


class WatchStatus(Struct):
    """``getWatchStatus``, ``enableWatch``, ``disableWatch``."""

    enabled: bool
    apps: list[AppWatch]
    only: list[str] | None = None


class Edge(Struct):
    """``needs`` depends on ``to`` (``from`` on the wire)."""

    needs: str
    to: str
    _wire: ClassVar[dict[str, str]] = {"needs": "from"}


class Graph(Struct):
    """``getDependencyGraph``."""

    nodes: list[str]
    edges: list[Edge]


# -- inspect, exec, logs flushed ----------------------------------------------------------


class Recycling(Struct):
    """When an app with ``cron_restart`` or ``max_age`` is next recycled (wall times)."""

    cron_restart: str | None
    next_cron_restart: float | None  # None while the app is stopped
    max_age: float | None  # seconds
    max_age_jitter: float | None
    replace_at: dict[str, float]  # instance index -> when it reaches its age limit


class Inspection(AppView):
    """``inspect``: one app in full."""

    health: AppHealth | None = None
    usage: list[InstanceUsage] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_masked: list[str] = field(default_factory=list)
    watch: AppWatch | None = None
    logs: list[LogEntry] = field(default_factory=list)
    recycling: Recycling | None = None


class ExecResult(Struct):
    """``exec``: how the command ended, and (unless streamed) what it wrote."""

    app: str
    instance: int
    argv: list[str]
    code: int | None
    signal: str | None  # "TERM", or the number when it has no name
    timed_out: bool
    seconds: float
    error: str | None
    stdout: str | None = None
    stderr: str | None = None
    dropped: dict[str, int] | None = None


class Flushed(Struct):
    """``flushLogs``: how many log files were emptied."""

    flushed: int


class UpgradeStarted(Struct):
    """``upgrade``: how many app processes the new program takes over."""

    keeping: int = 0


# -- tokens and the audit log -----------------------------------------------------------


class TokenInfo(Struct):
    """One of ``listTokens``: never the token itself."""

    id: str
    role: str
    subject: str
    issued: float
    expires: float
    revoked: float | None


class TokenRevoked(TokenInfo):
    """``revokeToken``."""

    sessions_ended: int = 0


class TokenCreated(Struct):
    """``createToken``: the token, shown once."""

    token: str
    id: str
    role: str
    subject: str
    expires: float


class KeyRotated(Struct):
    """``rotateTokens``."""

    sessions_ended: int = 0
    success: bool = True


# -- secrets: names, sizes and who set them; never a value ---------------------------


class SecretInfo(Struct):
    """One secret of ``listSecrets``: never its value."""

    name: str
    size: int  # bytes
    set_at: float
    set_by: str
    used_by: list[str]  # the apps whose config names it


class SecretsReport(Struct):
    """``listSecrets``: ``readable`` false (and why in ``problem``) when the store
    cannot be read: a wrong or missing key, a damaged file, loose permissions."""

    readable: bool
    problem: str | None
    path: str
    secrets: list[SecretInfo]


class SecretSet(SecretInfo):
    """``setSecret``: the secret as now shown, and whether it is new."""

    created: bool


class SecretRemoved(Struct):
    """``removeSecret``: the apps that still name it (they will not start)."""

    name: str
    used_by: list[str]


class SecretsKeyRotated(Struct):
    """``rotateSecretsKey``: how many secrets the new key seals, its id and its file."""

    secrets: int
    key_id: str
    key: str


class SecretsReset(Struct):
    """``resetSecrets``: where the unreadable store (and its .bak) went, and why."""

    moved: list[str]
    reason: str


class AuditView(Struct):
    """One entry of ``getAudit``."""

    time: float
    transport: str
    who: str
    role: str
    method: str
    outcome: str
    error: str | None = None
    params: dict[str, Any] | list[Any] | None = None
    duration_ms: float | None = None
    count: int = 1  # alike refusals folded into one entry
    until: float | None = None
    token: str | None = None


# -- fleet --------------------------------------------------------------------------------


class FleetNodeView(Struct):
    """One node as ``getFleet`` shows it (its record in Redis and the verdict on it)."""

    name: str
    state: str  # live, suspect or offline
    leader: bool
    address: str
    labels: dict[str, str]
    version: str
    apps: dict[str, list[int]]  # app -> [instances running, instances]
    running: list[str]  # the placed apps it runs
    drained: bool
    age: float  # seconds since its last heartbeat, on Redis's clock


class FleetAssignments(Struct):
    """Where the leader placed each placed app, stamped with its fence."""

    fence: int
    by: str
    apps: dict[str, list[str]]


class FleetView(Struct):
    """``getFleet``: every node, the leader, the fence, the assignments."""

    cluster: str
    node: str  # the node that answered
    leader: str | None
    fence: int
    seen_fence: int
    refused: int
    nodes: list[FleetNodeView]
    assignments: FleetAssignments | None


class FleetLeader(Struct):
    """``fleetStepDown``: the leader that was asked to give up its lease (None: there was none)."""

    leader: str | None


class FleetDrained(Struct):
    node: str
    drained: bool


class FleetAddress(Struct):
    """``fleetAddress``: where a node listens, and a 60 s fleet token in the caller's role."""

    node: str
    address: str
    token: str
