"""``procward hooks``: each hook, the apps it serves, and what became of its deliveries."""

from __future__ import annotations

from procward.cli import render
from procward.cli.connection import connect
from procward.cli.options import Globals
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from procward.reports import HookView


def cmd_hooks(args: Globals, paths: InstancePaths) -> int:
    """Exit status 1 when a hook lost deliveries (failed or dropped): someone was not told."""
    with connect(paths) as client:
        reply = client.call("getHooks")
    from procward.reports import HookView

    hooks = render.show(
        reply, lambda rows: [HookView.from_dict(r) for r in rows], table, json=args.json
    )
    return 1 if any(hook.failed or hook.dropped for hook in hooks) else 0


def table(hooks: list[HookView]) -> None:
    if not hooks:
        print("no hooks: see [hooks] in the README (Hooks and alerts)")
        return
    rows: list[tuple[str, ...]] = [
        ("NAME", "ON", "TARGET", "APPS", "DONE", "FAILED", "DROPPED", "QUEUED", "LAST ERROR")
    ]
    for hook in hooks:
        counts = (hook.delivered, hook.failed, hook.dropped, hook.queued + hook.in_flight)
        rows.append(
            (
                hook.name,
                ",".join(hook.on),
                hook.target,
                ",".join(hook.apps) or "-",
                *(str(count) for count in counts),
                hook.last_error or "",
            )
        )
    render.columns(rows)
