"""The depends_on graph: cycles with their path, start layers, stop order, the wire shape."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.supervision.graph import (
    around,
    as_graph,
    find_cycle,
    find_cycles,
    start_layers,
    stop_layers,
    stop_order,
)

STACK = {"web": ["api", "cache"], "api": ["db"], "cache": [], "db": [], "worker": ["db"]}


def test_no_cycle() -> None:
    assert find_cycle(STACK) is None
    assert find_cycle({}) is None


def test_a_cycle_is_a_closed_path() -> None:
    assert find_cycle({"web": ["worker"], "worker": ["web"]}) == ["web", "worker", "web"]


def test_a_self_loop_is_a_cycle() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_the_path_leads_into_the_cycle_only() -> None:
    deps = {"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b"]}
    assert find_cycle(deps) == ["b", "c", "d", "b"]


def test_the_cycle_found_does_not_depend_on_mapping_order() -> None:
    one = {"x": ["y"], "y": ["z"], "z": ["x"], "a": ["b"], "b": ["a"]}
    other = dict(reversed(one.items()))
    assert find_cycle(one) == find_cycle(other) == ["a", "b", "a"]


def test_a_long_chain_needs_no_recursion() -> None:
    chain = {f"n{i:05d}": [f"n{i + 1:05d}"] for i in range(5000)}
    assert find_cycle(chain) is None
    chain["n05000"] = ["n00000"]
    cycle = find_cycle(chain)
    assert cycle is not None
    assert len(cycle) == 5002


def test_find_cycles_reports_each_independent_cycle() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": []}
    assert find_cycles(deps) == [["a", "b", "a"], ["c", "d", "c"]]
    assert find_cycles(STACK) == []


def test_start_layers() -> None:
    assert start_layers(STACK) == [["cache", "db"], ["api", "worker"], ["web"]]


def test_unknown_dependencies_are_leaves() -> None:
    assert start_layers({"web": ["ghost"]}) == [["ghost"], ["web"]]


def test_start_layers_refuses_a_cycle_with_its_path() -> None:
    with pytest.raises(ValueError, match=r"^dependency cycle: api -> web -> api$"):
        start_layers({"db": [], "web": ["api", "db"], "api": ["web"]})


def test_stop_order_puts_dependents_first() -> None:
    assert stop_layers(STACK) == [["web"], ["api", "worker"], ["cache", "db"]]
    assert stop_order(STACK) == ["web", "api", "worker", "cache", "db"]


def test_as_graph() -> None:
    assert as_graph({"web": ["db", "cache", "db"], "db": []}) == {
        "nodes": ["cache", "db", "web"],
        "edges": [{"from": "web", "to": "cache"}, {"from": "web", "to": "db"}],
    }


NAMES = [f"app{i}" for i in range(12)]


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Random acyclic graphs: an app may only depend on apps later in a shuffled order."""
    order = draw(st.permutations(NAMES))
    size = draw(st.integers(0, len(order)))
    return {
        app: draw(st.lists(st.sampled_from(order[i + 1 :]), unique=True))
        if i + 1 < len(order)
        else []
        for i, app in enumerate(order[:size])
    }


graphs = st.dictionaries(
    st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), unique=True), max_size=len(NAMES)
)


@given(dags())
def test_layers_of_random_dags_are_valid(deps: dict[str, list[str]]) -> None:
    layers = start_layers(deps)
    flat = [app for layer in layers for app in layer]
    assert sorted(flat) == as_graph(deps)["nodes"]  # every node exactly once
    layer_of = {app: n for n, layer in enumerate(layers) for app in layer}
    for app, needs in deps.items():
        for dep in needs:
            assert layer_of[dep] < layer_of[app]
    for n, layer in enumerate(layers):
        assert layer == sorted(layer)
        if n:  # as early as possible: something in the layer just before is needed
            assert all(any(layer_of[d] == n - 1 for d in deps[app]) for app in layer)
    assert find_cycle(deps) is None


@given(dags())
def test_stop_order_of_random_dags(deps: dict[str, list[str]]) -> None:
    order = stop_order(deps)
    position = {app: i for i, app in enumerate(order)}
    for app, needs in deps.items():
        for dep in needs:
            assert position[app] < position[dep]


@given(graphs)
def test_a_cycle_found_is_real(deps: dict[str, list[str]]) -> None:
    cycle = find_cycle(deps)
    if cycle is None:
        start_layers(deps)  # no ValueError
        return
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1  # elementary
    for app, dep in itertools.pairwise(cycle):
        assert dep in deps[app]
    with pytest.raises(ValueError, match="dependency cycle"):
        start_layers(deps)


@given(graphs)
def test_breaking_the_cycles_found_leaves_no_cycle(deps: dict[str, list[str]]) -> None:
    remaining = {app: set(needs) for app, needs in deps.items()}
    for cycle in find_cycles(deps):
        remaining[cycle[-2]].discard(cycle[-1])
    assert find_cycle(remaining) is None


def test_the_graph_around_one_app_is_what_it_needs_and_what_needs_it() -> None:
    # web needs api and cache, api needs db; worker needs db too, but not api.
    assert around(STACK, "api") == {"web": ["api"], "api": ["db"], "db": []}
    assert around(STACK, "db") == {"web": ["api"], "api": ["db"], "worker": ["db"], "db": []}
    assert around(STACK, "cache") == {"web": ["cache"], "cache": []}
    assert as_graph(around(STACK, "worker")) == {
        "nodes": ["db", "worker"],
        "edges": [{"from": "worker", "to": "db"}],
    }
