"""What ``state.json`` holds: the apps, their instances, and the daemon's settings.

Composed in the loop (consistent) by ``snapshot``, written by
``supervision.state.StateStore`` on its thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procward.daemon.savedapps import SavedApps
    from procward.supervision.supervisor import Supervisor


def snapshot(
    sup: Supervisor, saved_apps: SavedApps | None, settings: dict[str, Any]
) -> dict[str, Any]:
    apps = []
    for app in sup.apps.values():
        instances = []
        for inst in app.instances:
            info = inst.snapshot()
            info["pgid"] = inst.pgid
            instances.append(info)
        apps.append(
            {
                "spec": app.table,
                "source": app.source,
                "desired": app.desired,
                "held": app.held,
                "max_instances": app.max_instances,
                "instances": instances,
            }
        )
    if saved_apps is not None:  # entries that made no app: kept as they were
        apps.extend(saved_apps.entries())
    return {"apps": apps, "settings": settings}
