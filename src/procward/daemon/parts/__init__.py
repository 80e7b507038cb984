"""The daemon's parts: one module per group of RPC methods, each a plain object.

A part is built with exactly what it uses (the ``Supervisor``, the
``StateKeeper``, another part) and its ``@method``s are registered with
``Registry.collect(part)``; ``ProcwardDaemon`` (``daemon/service.py``) is
the wiring. What a part needs of another is a constructor argument, so an
import shows it:

    apps      start, stop, restart, reload, scale; add and delete (Apps)
    views     status, list, getApp, inspect, getEnv, getHealth, graph (Views, HttpPages)
    configs   loadConfig, reloadConfig, SIGHUP (Configs)
    logs      getLogs, followLogs, getEvents, followEvents, flushLogs, reopenLogs (Logs)
    metrics   getMetrics, setMetricsEnabled, GET /metrics (Metrics)
    network   setNetwork and the listeners kept in state.json (NetworkSettings)
    watch     getWatchStatus, enableWatch, disableWatch (Watch)
    commands  exec (Commands)
    uptime    getUptime and uptime.json (Uptime)
    events    events.json (EventHistory)
    upgrade   procward's half of the kit's upgrade (Upgrade)
    audit     the audit trail and getAudit (Audit)
    secrets   listSecrets, setSecret, removeSecret, rotateSecretsKey, resetSecrets (Secrets)
    hooks     getHooks: each hook and its deliveries (Hooks)
    fleet     getFleet, fleetStepDown, fleetDrain, fleetAddress (Fleet; procward.fleet when on)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from procward.daemon.parts.configs import Configs
    from procward.daemon.parts.events import EventHistory
    from procward.daemon.parts.fleet import Fleet
    from procward.daemon.parts.metrics import Metrics
    from procward.daemon.parts.network import NetworkSettings
    from procward.daemon.parts.secrets import Secrets
    from procward.daemon.parts.upgrade import Upgrade
    from procward.daemon.parts.uptime import Uptime
    from procward.daemon.statekeeper import StateKeeper
    from procward.supervision.supervisor import Supervisor


class Parts(NamedTuple):
    """The parts the daemon's hooks use, once ``on_start`` has built them."""

    sup: Supervisor
    keeper: StateKeeper
    metrics: Metrics
    network: NetworkSettings
    configs: Configs
    uptime: Uptime
    events: EventHistory
    upgrade: Upgrade
    secrets: Secrets  # its store() is what an app's secrets are read from
    fleet: Fleet  # off (and nothing of procward.fleet imported) unless a file enables it
