"""Where placed apps run: the leader's decision, as a pure function.

``place(nodes, apps, current)`` returns the next assignment (app -> node
names). No I/O, no clock: the leader's loop (``node.py``) feeds it what it
read from Redis and writes back what it returns. The rules, each one a
property that ``tests/fleet/test_placement.py`` checks with hypothesis:

- an app is assigned only to nodes that are live, not drained, and carry
  every label it asks for;
- a placement that is still valid is kept: no app moves because a node
  joined or because another spread would look nicer; a copy that runs on a
  node that may keep it is adopted (after Redis lost the assignments);
- an app on a node that went offline, was drained or lost a label is taken
  away from it, and given to the eligible node with the fewest placed
  instances (ties by name, so every leader decides the same);
- a node that still *runs* an app it is no longer assigned (drained, not
  yet stopped) counts against the app's ``count``: its replacement is
  assigned only once it has stopped. This is what keeps a count of 1 at
  one copy at every moment during a drain. An offline node's copy does not
  count: it is presumed gone (see ``on_partition`` in docs/fleet.md).

A suspect node (one missed heartbeat) keeps its placements but gets no new
ones: reassigning on a single late heartbeat would start a second copy
each time a node hiccups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from procward.kit._structs import Struct, field

__all__ = ["Assignment", "NodeView", "PlacedApp", "place"]

LIVE, SUSPECT, OFFLINE = "live", "suspect", "offline"

# app -> the nodes it is assigned to, sorted by name
Assignment = dict[str, tuple[str, ...]]


class NodeView(Struct):
    """What placement knows of a node."""

    name: str
    state: str = LIVE  # live | suspect | offline
    labels: Mapping[str, str] = field(default_factory=dict)
    drained: bool = False
    running: frozenset[str] = frozenset()  # placed apps it runs now (its heartbeat says)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(self.labels.get(key) == value for key, value in labels.items())

    def may_keep(self, app: PlacedApp) -> bool:
        return self.state != OFFLINE and not self.drained and self.matches(app.labels)

    def may_take(self, app: PlacedApp) -> bool:
        return self.state == LIVE and not self.drained and self.matches(app.labels)


class PlacedApp(Struct):
    """An app with ``placement = { count, labels }``."""

    name: str
    count: int
    labels: Mapping[str, str] = field(default_factory=dict)


def place(
    nodes: Iterable[NodeView], apps: Iterable[PlacedApp], current: Mapping[str, Iterable[str]]
) -> Assignment:
    """The next assignment: every app in ``apps``, each to at most ``count`` nodes."""
    by_name = {node.name: node for node in nodes}
    kept = {app.name: _kept(app, current.get(app.name, ()), by_name) for app in apps}
    load = {name: 0 for name in by_name}
    for names in kept.values():
        for name in names:
            load[name] += 1
    result: Assignment = {}
    for app in sorted(apps, key=lambda a: a.name):
        chosen = list(kept[app.name])
        busy = _still_running_elsewhere(app, chosen, by_name.values())
        candidates = [n for n in by_name.values() if n.may_take(app) and n.name not in chosen]
        while len(chosen) + busy < app.count and candidates:
            best = min(candidates, key=lambda n: (load[n.name], n.name))
            candidates.remove(best)
            chosen.append(best.name)
            load[best.name] += 1
        result[app.name] = tuple(sorted(chosen))
    return result


def _kept(app: PlacedApp, assigned: Iterable[str], nodes: Mapping[str, NodeView]) -> list[str]:
    """The nodes ``app`` stays on: still valid, at most ``count``.

    Its assigned nodes first (by name), then nodes that run it unassigned and
    could keep it: after Redis lost the assignments, the copies that run are
    adopted rather than stopped and started elsewhere.
    """
    valid = sorted(n for n in set(assigned) if n in nodes and nodes[n].may_keep(app))
    running = sorted(
        name
        for name, node in nodes.items()
        if app.name in node.running and node.may_keep(app) and name not in valid
    )
    return (valid + running)[: app.count]


def _still_running_elsewhere(app: PlacedApp, chosen: list[str], nodes: Iterable[NodeView]) -> int:
    """Nodes not chosen that still run ``app`` and are not offline: copies not yet stopped."""
    return sum(
        1
        for node in nodes
        if node.name not in chosen and node.state != OFFLINE and app.name in node.running
    )
