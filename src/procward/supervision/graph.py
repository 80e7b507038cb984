"""The ``depends_on`` graph: cycles, start layers, stop order.

Input is ``{app: [apps it depends on]}``. A dependency that is not a key is a
node with no dependencies of its own (config validation reports it; these
functions need not fail on it). Every result is deterministic and independent
of the mapping's order (nodes and neighbours are visited sorted), so the same
file always yields the same cycle message and the same start order.

Starting goes by layers: layer 0 depends on nothing, layer ``n`` only on
layers before it, so the supervisor can start a whole layer at once and wait
for it to be started before the next. Stopping is the mirror image:
dependents before what they depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TypedDict

__all__ = [
    "Edge",
    "Graph",
    "around",
    "as_graph",
    "find_cycle",
    "find_cycles",
    "start_layers",
    "stop_layers",
    "stop_order",
]

Deps = Mapping[str, Collection[str]]  # lists, tuples or sets of app names

Edge = TypedDict("Edge", {"from": str, "to": str})


class Graph(TypedDict):
    nodes: list[str]
    edges: list[Edge]


def nodes_of(deps: Deps) -> list[str]:
    """Every app named, as a key or as a dependency, sorted."""
    return sorted(set(deps).union(*deps.values()))


def find_cycle(deps: Deps) -> list[str] | None:
    """A cycle as a closed path (``["a", "b", "a"]``: a depends on b, b on a), or None."""
    done: set[str] = set()
    for start in nodes_of(deps):
        if start not in done:
            cycle = _cycle_from(start, deps, done)
            if cycle is not None:
                return cycle
    return None


def _cycle_from(start: str, deps: Deps, done: set[str]) -> list[str] | None:
    """Depth-first from ``start`` without recursion: a chain of apps may be long."""
    path = [start]
    on_path = {start: 0}
    pending = [iter(sorted(set(deps.get(start, ()))))]
    while pending:
        following = next(pending[-1], None)
        if following is None:
            finished = path.pop()
            del on_path[finished]
            done.add(finished)
            pending.pop()
        elif following in on_path:
            return [*path[on_path[following] :], following]
        elif following not in done:
            on_path[following] = len(path)
            path.append(following)
            pending.append(iter(sorted(set(deps.get(following, ())))))
    return None


def find_cycles(deps: Deps) -> list[list[str]]:
    """Cycles found one at a time, each broken at its closing edge, until none is left.

    Not every elementary cycle (there can be exponentially many), but every
    cycle of the graph goes through an edge of one of these, so fixing what
    they show makes the graph acyclic.
    """
    remaining = {node: set(deps.get(node, ())) for node in nodes_of(deps)}
    cycles = []
    while (cycle := find_cycle(remaining)) is not None:
        cycles.append(cycle)
        remaining[cycle[-2]].discard(cycle[-1])
    return cycles


def start_layers(deps: Deps) -> list[list[str]]:
    """Apps in start order, by layers; ``ValueError`` showing the path of a cycle."""
    waiting = {node: set(deps.get(node, ())) for node in nodes_of(deps)}
    layers = []
    while waiting:
        ready = sorted(node for node, needs in waiting.items() if not needs)
        if not ready:
            cycle = find_cycle(waiting) or []
            raise ValueError("dependency cycle: " + " -> ".join(cycle))
        layers.append(ready)
        for node in ready:
            del waiting[node]
        for needs in waiting.values():
            needs.difference_update(ready)
    return layers


def stop_layers(deps: Deps) -> list[list[str]]:
    """The start layers backwards: nothing is stopped before what depends on it."""
    return start_layers(deps)[::-1]


def stop_order(deps: Deps) -> list[str]:
    """Every app once, dependents before their dependencies."""
    return [node for layer in stop_layers(deps) for node in layer]


def as_graph(deps: Deps) -> Graph:
    """``{"nodes": [...], "edges": [{"from": app, "to": dependency}]}``, sorted."""
    edges: list[Edge] = [
        {"from": app, "to": dep} for app in sorted(deps) for dep in sorted(set(deps[app]))
    ]
    return {"nodes": nodes_of(deps), "edges": edges}


def around(deps: Deps, name: str) -> dict[str, list[str]]:
    """The graph of one app: what it needs, transitively, and what needs it, transitively.

    Only the edges on those paths: a dependent's other needs are not ``name``'s business.
    """
    needs = _reach(name, lambda node: deps.get(node, ()))
    needed_by = _reach(name, lambda node: [n for n in deps if node in deps[n]])
    return {
        node: sorted(set(deps.get(node, ())) & (needs if node in needs else needed_by))
        for node in needs | needed_by
    }


def _reach(start: str, following: Callable[[str], Collection[str]]) -> set[str]:
    """``start`` and every node reached from it through ``following``."""
    seen = {start}
    stack = [start]
    while stack:
        for node in following(stack.pop()):
            if node not in seen:
                seen.add(node)
                stack.append(node)
    return seen
