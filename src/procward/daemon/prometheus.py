"""``GET /metrics``: the apps and the daemon in Prometheus' text exposition format.

Gauges for CPU (% of one core) and memory of each instance's process group,
whether it is up, its restarts (a counter) and whether each app is healthy;
the same numbers ``getMetrics`` and ``status`` give, labelled by app and
instance. Format: text/plain; version=0.0.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "procward_instance_up": ("gauge", "1 if the instance is running (ready), else 0"),
    "procward_instance_cpu_percent": ("gauge", "CPU of the instance's process group, % of a core"),
    "procward_instance_memory_bytes": ("gauge", "resident memory of the instance's process group"),
    "procward_instance_processes": ("gauge", "processes in the instance's process group"),
    "procward_instance_restarts_total": ("counter", "automatic restarts of the instance"),
    "procward_app_healthy": ("gauge", "1 if everything of the app meant to run is running"),
    "procward_daemon_cpu_percent": ("gauge", "CPU of the daemon, % of a core"),
    "procward_daemon_memory_bytes": ("gauge", "resident memory of the daemon"),
}


def exposition(metrics: dict[str, Any], apps: Iterable[dict[str, Any]]) -> str:
    """``metrics`` from ``getMetrics``, ``apps`` from ``list``: the page Prometheus scrapes."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}
    usage = {
        (app["name"], inst["index"]): inst for app in metrics["apps"] for inst in app["instances"]
    }
    for app in apps:
        name = app["name"]
        samples["procward_app_healthy"].append(_sample({"app": name}, int(app["healthy"])))
        for inst in app["instances"]:
            labels = {"app": name, "instance": str(inst["index"])}
            used = usage.get((name, inst["index"]), {})
            up = int(inst["state"] == "running")
            samples["procward_instance_up"].append(_sample(labels, up))
            samples["procward_instance_restarts_total"].append(_sample(labels, inst["restarts"]))
            for key, metric in (
                ("cpu", "procward_instance_cpu_percent"),
                ("memory", "procward_instance_memory_bytes"),
                ("processes", "procward_instance_processes"),
            ):
                if used.get(key) is not None:
                    samples[metric].append(_sample(labels, used[key]))
    daemon = metrics["daemon"]
    for key, metric in (
        ("cpu", "procward_daemon_cpu_percent"),
        ("memory", "procward_daemon_memory_bytes"),
    ):
        if daemon.get(key) is not None:
            samples[metric].append(_sample({}, daemon[key]))
    lines = []
    for metric, (kind, text) in _HELP.items():
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        lines += [f"{metric}{sample}" for sample in samples[metric]]
    return "\n".join(lines) + "\n"


def _sample(labels: dict[str, str], value: float) -> str:
    if not labels:
        return f" {value}"
    inner = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
    return f"{{{inner}}} {value}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
