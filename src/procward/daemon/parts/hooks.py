"""The daemon's hooks method: each hook, the apps it serves, and what became of its deliveries.

``getHooks`` is where a dead endpoint shows (decision 0044): deliveries
queued and under way, made, failed after their retries, and dropped from a
full queue, with the last error. A hook's counts live as long as some app
has it or something of it is still queued; nothing is loaded for a daemon
whose apps have no hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procward.kit._rpc import CallContext, Role, method

if TYPE_CHECKING:
    from procward.supervision.hooks import Hook
    from procward.supervision.supervisor import Supervisor


class Hooks:
    """``getHooks``."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    @method(Role.VIEWER, result="list[HookView]")
    def getHooks(self, ctx: CallContext) -> list[dict[str, Any]]:
        """Each hook (by definition): its events, target, apps and delivery counts."""
        apps: dict[Hook, list[str]] = {}
        for app in self.sup.apps.values():
            for hook in app.spec.hooks:
                apps.setdefault(hook, []).append(app.name)
        runner = self.sup.hooks
        if runner is not None:
            runner.forget_idle(apps)
            for hook in runner.outboxes:
                apps.setdefault(hook, [])  # no app has it now, but it still delivers
        return [
            _view(hook, names, runner.view(hook) if runner else None)
            for hook, names in apps.items()
        ]


def _view(hook: Hook, apps: list[str], counts: dict[str, Any] | None) -> dict[str, Any]:
    from procward.supervision.hooksqueue import Outbox

    return {
        "name": hook.name,
        "on": list(hook.on),
        "kind": "run" if hook.run is not None else "url",
        "target": hook.target,
        "signed": hook.secret is not None,
        "timeout": hook.timeout,
        "retries": hook.retries,
        "apps": apps,
        **(counts if counts is not None else Outbox().view()),
    }
