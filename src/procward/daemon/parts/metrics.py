"""The daemon's metrics methods: CPU and memory of each instance and of the daemon.

Sampling is off by default (the idle-CPU budget), and ``getMetrics`` then
takes two samples a quarter of a second apart on demand; ``setMetricsEnabled``
(admin) turns periodic sampling on, so ``status`` shows CPU and memory too.

Sampling covers every app, or the apps listed in ``sampled``: ``{name,
enabled: true}`` adds one (only it, if sampling was off), ``{name, enabled:
false}`` takes one out (if every app was sampled, the list becomes every
other app there is now; apps added later are not in it). Apps not sampled
are measured on demand by a meter of their own, so ``status`` never shows a
reading that is not kept current. (Sampling fewer apps saves little: one
pass over /proc reads every process either way.) The switch, with its
list, is kept in ``state.json`` like the apps.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procward.daemon.savedstate import MetricsSetting
from procward.kit._errors import InvalidParams
from procward.kit._rpc import CallContext, Peer, Role, method

if TYPE_CHECKING:
    from procward.daemon.statekeeper import StateKeeper
    from procward.kit._http import Reply
    from procward.kit._scheduler import Job, Scheduler
    from procward.supervision.metrics import Meter, Reading
    from procward.supervision.supervisor import App, Supervisor
    from procward.supervision.trend import Point, Trend

ON_DEMAND_WINDOW = 0.25  # seconds between the two samples of an on-demand reading
DEFAULT_INTERVAL = 5.0


class Metrics:
    """``getMetrics``, the sampling switch (``setMetricsEnabled``) and ``GET /metrics``."""

    def __init__(self, sup: Supervisor, scheduler: Scheduler, keeper: StateKeeper) -> None:
        self.sup = sup
        self.scheduler = scheduler
        self.keeper = keeper
        self._metrics_job: Job | None = None
        self.metrics_interval = DEFAULT_INTERVAL
        self.metrics_apps: frozenset[str] | None = None  # sampled apps; None: every app
        self.trend: Trend | None = None  # the last minutes of each sampled app, while on

    def metrics_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "enabled": self._metrics_job is not None,
            "interval": self.metrics_interval,
        }
        if self._metrics_job is not None and self.metrics_apps is not None:
            settings["sampled"] = sorted(self.metrics_apps)  # "apps": getMetrics' own
        return settings

    def apply_metrics_settings(
        self, enabled: bool, interval: float, apps: Iterable[str] | None = None
    ) -> None:
        was_on = self._metrics_job is not None
        if self._metrics_job is not None:
            self.scheduler.cancel(self._metrics_job)
            self._metrics_job = None
        self.metrics_interval = interval
        self.sup.memory_interval = interval  # max_memory samples at the same pace
        self.metrics_apps = frozenset(apps) if enabled and apps is not None else None
        self.trend = None
        if not enabled:
            if was_on:
                self.sup.meter.clear()  # status must not go on showing the last readings
            return
        from procward.supervision.trend import Trend

        meter = self.sup.meter
        meter.groups = self._sampled_groups
        meter.sample()  # a baseline now (and no reading left of an app no longer sampled)
        self.trend = Trend()
        self._metrics_job = self.scheduler.every(interval, self._sample, name="metrics")

    def _sample(self) -> None:
        """Read every sampled app, and keep the point for the trend."""
        meter = self.sup.meter
        meter.sample()
        if self.trend is not None and meter.sampled_at is not None:
            chosen = (a for a in self.sup.apps.values() if self._chosen(a.name))
            self.trend.record(meter.sampled_at, {a.name: _summed(a, meter) for a in chosen})

    def saved(self) -> MetricsSetting:
        """The switch, for ``state.json``."""
        return MetricsSetting.from_dict(self.metrics_settings())

    def restore_metrics(self, saved: MetricsSetting) -> None:
        """The switch as ``saved`` kept it in state.json."""
        if saved.enabled:
            interval = min(max(saved.interval, 0.1), 3600.0)
            self.apply_metrics_settings(True, interval, saved.sampled)

    def _sampled(self, name: str) -> bool:
        return self._metrics_job is not None and self._chosen(name)

    def _chosen(self, name: str) -> bool:
        return self.metrics_apps is None or name in self.metrics_apps

    def _sampled_groups(self) -> list[int]:
        return _groups(a for a in self.sup.apps.values() if self._chosen(a.name))

    def _switched(self, enabled: bool, name: str) -> tuple[bool, frozenset[str] | None]:
        """Sampling on or off, and for which apps, once ``name`` is switched."""
        if self._metrics_job is None:
            return enabled, frozenset({name}) if enabled else None
        if self.metrics_apps is None and enabled:
            return True, None  # every app already
        now = self.metrics_apps if self.metrics_apps is not None else frozenset(self.sup.apps)
        chosen = now | {name} if enabled else now - {name}
        return bool(chosen), chosen or None

    @method(Role.ADMIN)
    async def setMetricsEnabled(
        self,
        ctx: CallContext,
        enabled: bool,
        interval: float | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Turn periodic sampling on or off (``interval`` seconds, default 5), or for one app."""
        chosen = self.metrics_interval if interval is None else interval
        if not 0.1 <= chosen <= 3600:
            raise InvalidParams(f"interval must be between 0.1 and 3600 seconds, got {chosen}")
        apps = None
        if name is not None:
            self.sup.app(name)  # NotFound, with the known names
            enabled, apps = self._switched(enabled, name)
        self.apply_metrics_settings(enabled, chosen, apps)
        self.keeper.changed()
        await self.keeper.durable()
        return self.metrics_settings()

    @method(Role.VIEWER, result="TrendsReport")
    def getTrends(
        self, ctx: CallContext, name: str | None = None, since: float | None = None
    ) -> dict[str, Any]:
        """Each app's CPU and memory over the last minutes (60 samples), while sampling is on.

        ``since`` (a unix time, as ``times`` gives): only the samples taken
        after it, for a reader that already has the rest. Sampling off: no
        samples (``enabled`` false).
        """
        if name is not None:
            self.sup.app(name)  # NotFound, with the known names
        trend = self.trend
        if trend is None:
            return {"enabled": False, "interval": self.metrics_interval, "times": [], "apps": []}
        slots = trend.slots(since)
        names = [name] if name is not None else sorted(trend.apps)
        apps = []
        for app in names:
            if app in trend.apps:
                cpu, memory = trend.series(app, slots)
                apps.append({"name": app, "cpu": cpu, "memory": memory})
        times = [trend.times[s] for s in slots]
        return {"enabled": True, "interval": self.metrics_interval, "times": times, "apps": apps}

    async def metrics_page(self, peer: Peer, body: bytes) -> Reply:
        """``GET /metrics`` on the HTTP listener: Prometheus' text format."""
        from procward.daemon.prometheus import CONTENT_TYPE, exposition
        from procward.kit._http import Reply

        metrics = await self.getMetrics(CallContext(peer, _no_stream))
        page = exposition(metrics, self.sup.summaries())
        return Reply(200, page.encode(), CONTENT_TYPE)

    @method(Role.VIEWER, result="MetricsReport")
    async def getMetrics(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """CPU (% of one core) and memory (bytes) per instance and for the daemon."""
        apps = [self.sup.app(name)] if name else list(self.sup.apps.values())
        sampled = self._metrics_job is not None and all(self._sampled(a.name) for a in apps)
        meter = self.sup.meter if sampled else await _measured_now(apps, self.sup)
        return {
            **self.metrics_settings(),
            "sampled_at": meter.sampled_at,
            "daemon": {"pid": os.getpid(), **_reading(meter.own)},
            "apps": [_app_metrics(app, meter) for app in apps],
        }


async def _no_stream(method: str, params: Any) -> None:
    raise RuntimeError("no stream here")


async def _measured_now(apps: list[App], sup: Supervisor) -> Meter:
    """A meter of their own for ``apps``: two samples ``ON_DEMAND_WINDOW`` apart."""
    from procward.supervision.metrics import Meter

    groups = _groups(apps)
    meter = Meter(lambda: groups, time.monotonic, sup.measure_groups)
    meter.sample()
    await asyncio.sleep(ON_DEMAND_WINDOW)
    meter.sample()
    return meter


def _summed(app: App, meter: Meter) -> Point:
    """An app's CPU and memory: its instances' readings summed (None: none measured)."""
    cpu = memory = None
    for inst in app.instances:
        reading = meter.reading(inst.pgid)
        if reading is None:
            continue
        memory = (memory or 0) + reading.memory
        if reading.cpu is not None:
            cpu = (cpu or 0.0) + reading.cpu
    return cpu, memory


def _groups(apps: Iterable[App]) -> list[int]:
    return [i.pgid for app in apps for i in app.instances if i.pgid is not None]


def _app_metrics(app: App, meter: Meter) -> dict[str, Any]:
    return {
        "name": app.name,
        "instances": [
            {
                "index": inst.index,
                "state": inst.state.value,
                "pid": inst.record.pid,
                **_reading(meter.reading(inst.pgid)),
            }
            for inst in app.instances
        ],
    }


def _reading(reading: Reading | None) -> dict[str, Any]:
    if reading is None:
        return {"cpu": None, "memory": None, "processes": 0}
    return dict(reading.as_dict())
