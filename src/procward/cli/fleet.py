"""``procward fleet``: status, step-down, drain NODE, undrain NODE.

The CLI never speaks to Redis (nor imports its client): it asks the local
daemon, whose node reads the fleet in one round trip or says at once that
the fleet is unavailable, and why.
"""

from __future__ import annotations

import sys

from procward.cli import render
from procward.cli.connection import connect, fail
from procward.cli.options import FleetArgs
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: the CLI imports this module at start
if TYPE_CHECKING:
    from procward.reports import FleetView


def cmd_fleet(args: FleetArgs, paths: InstancePaths) -> int:
    if args.action in ("drain", "undrain") and not args.node:
        return fail(f"fleet {args.action} needs the NODE", 2)
    if args.action not in ("drain", "undrain") and args.node:
        return fail(f"fleet {args.action} takes no NODE", 2)
    with connect(paths) as client:
        if args.action == "status":
            from procward.reports import FleetView

            reply = client.call("getFleet")
            render.show(reply, FleetView.from_dict, _status, json=args.json)
            return 0
        if args.action == "step-down":
            reply = client.call("fleetStepDown")
            said = f"asked {reply['leader']} to step down" if reply["leader"] else "no leader now"
        else:
            drained = args.action == "drain"
            reply = client.call("fleetDrain", node=args.node, drained=drained)
            said = f"{args.node} {'drained' if drained else 'undrained'}"
    if args.json:
        render.as_json(reply)
    else:
        print(said)
    return 0


def _status(view: FleetView) -> None:
    rows = [["NODE", "STATE", "LEADER", "ADDRESS", "LABELS", "APPS", "PLACED", "AGE"]]
    for node in view.nodes:
        running = sum(pair[0] for pair in node.apps.values())
        wanted = sum(pair[1] for pair in node.apps.values())
        rows.append(
            [
                node.name + (" (drained)" if node.drained else ""),
                node.state,
                "*" if node.leader else "",
                node.address or "-",
                ",".join(f"{k}={v}" for k, v in sorted(node.labels.items())) or "-",
                f"{running}/{wanted}",
                ",".join(node.running) or "-",
                f"{node.age:.1f}s",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = sys.stdout
    leader = view.leader or "none"
    out.write(
        f"fleet {view.cluster}: {len(view.nodes)} nodes, leader {leader}, fence {view.fence}\n"
    )
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            + "\n"
        )
    if view.assignments is not None:
        for app, nodes in sorted(view.assignments.apps.items()):
            out.write(f"placed {app}: {', '.join(nodes) or 'nowhere yet'}\n")
