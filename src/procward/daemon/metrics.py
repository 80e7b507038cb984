"""The daemon's metrics methods: CPU and memory of each instance and of the daemon.

Sampling is off by default (the idle-CPU budget), and ``getMetrics`` then
takes two samples a quarter of a second apart on demand; ``setMetricsEnabled``
(admin) turns periodic sampling on, so ``status`` shows CPU and memory too.
The switch is kept in ``state.json`` like the apps.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from procward.kit.errors import InvalidParams
from procward.kit.rpc import CallContext, Peer, Role, method

if TYPE_CHECKING:
    from procward.kit.http import Reply
    from procward.kit.scheduler import Job, Scheduler
    from procward.supervision.metrics import Reading
    from procward.supervision.supervisor import App, Supervisor

ON_DEMAND_WINDOW = 0.25  # seconds between the two samples of an on-demand reading
DEFAULT_INTERVAL = 5.0


class MetricsMethods:
    """Mixed into ``ProcwardDaemon``, which provides ``sup``, ``scheduler`` and ``_durable``."""

    if TYPE_CHECKING:

        @property
        def sup(self) -> Supervisor: ...

        scheduler: Scheduler

        async def _durable(self) -> None: ...

        def _changed(self) -> None: ...

    _metrics_job: Job | None = None
    metrics_interval: float = DEFAULT_INTERVAL

    def metrics_settings(self) -> dict[str, Any]:
        return {"enabled": self._metrics_job is not None, "interval": self.metrics_interval}

    def apply_metrics_settings(self, enabled: bool, interval: float) -> None:
        if self._metrics_job is not None:
            self.scheduler.cancel(self._metrics_job)
            self._metrics_job = None
        self.metrics_interval = interval
        if enabled:
            self.sup.meter.sample()  # a baseline now: CPU from the next sample on
            job = self.scheduler.every(interval, self.sup.meter.sample, name="metrics")
            self._metrics_job = job

    @method(Role.ADMIN)
    async def setMetricsEnabled(
        self, ctx: CallContext, enabled: bool, interval: float | None = None
    ) -> dict[str, Any]:
        """Turn periodic sampling on or off (``interval`` seconds, default 5)."""
        chosen = self.metrics_interval if interval is None else interval
        if not 0.1 <= chosen <= 3600:
            raise InvalidParams(f"interval must be between 0.1 and 3600 seconds, got {chosen}")
        self.apply_metrics_settings(enabled, chosen)
        self._changed()
        await self._durable()
        return self.metrics_settings()

    async def metrics_page(self, peer: Peer, body: bytes) -> Reply:
        """``GET /metrics`` on the HTTP listener: Prometheus' text format."""
        from procward.daemon.prometheus import CONTENT_TYPE, exposition
        from procward.kit.http import Reply

        metrics = await self.getMetrics(CallContext(peer, _no_stream))
        page = exposition(metrics, self.sup.summaries())
        return Reply(200, page.encode(), CONTENT_TYPE)

    @method(Role.VIEWER)
    async def getMetrics(self, ctx: CallContext, name: str | None = None) -> dict[str, Any]:
        """CPU (% of one core) and memory (bytes) per instance and for the daemon."""
        apps = [self.sup.app(name)] if name else list(self.sup.apps.values())
        meter = self.sup.meter
        on_demand = self._metrics_job is None
        if on_demand:
            meter.sample()
            await asyncio.sleep(ON_DEMAND_WINDOW)
            meter.sample()
        own = meter.own
        result = {
            **self.metrics_settings(),
            "sampled_at": meter.sampled_at,
            "daemon": {"pid": os.getpid(), **_reading(own)},
            "apps": [_app_metrics(app) for app in apps],
        }
        if on_demand:
            meter.clear()
        return result


async def _no_stream(method: str, params: Any) -> None:
    raise RuntimeError("no stream here")


def _app_metrics(app: App) -> dict[str, Any]:
    meter = app.sup.meter
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
