"""``placement.place``: the leader's pure decision, by example and by property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from procward.fleet.placement import LIVE, OFFLINE, SUSPECT, NodeView, PlacedApp, place


def nodes(*names: str, **kw: object) -> list[NodeView]:
    return [NodeView(name, **kw) for name in names]  # type: ignore[arg-type]


def test_count_nodes_spread_by_load_then_name() -> None:
    apps = [PlacedApp("a", 2), PlacedApp("b", 1)]
    assert place(nodes("n1", "n2", "n3"), apps, {}) == {"a": ("n1", "n2"), "b": ("n3",)}


def test_only_matching_live_undrained_nodes() -> None:
    fleet = [
        NodeView("n1", labels={"role": "web"}),
        NodeView("n2", labels={"role": "db"}),
        NodeView("n3", labels={"role": "web"}, drained=True),
        NodeView("n4", state=OFFLINE, labels={"role": "web"}),
        NodeView("n5", state=SUSPECT, labels={"role": "web"}),
    ]
    assert place(fleet, [PlacedApp("a", 3, {"role": "web"})], {}) == {"a": ("n1",)}


def test_keeps_a_valid_placement_when_a_node_joins() -> None:
    assert place(nodes("n1", "n2", "n0"), [PlacedApp("a", 1)], {"a": ["n2"]}) == {"a": ("n2",)}


def test_suspect_keeps_but_offline_loses() -> None:
    fleet = [NodeView("n1", state=SUSPECT), NodeView("n2")]
    assert place(fleet, [PlacedApp("a", 1)], {"a": ["n1"]}) == {"a": ("n1",)}
    fleet = [NodeView("n1", state=OFFLINE, running=frozenset({"a"})), NodeView("n2")]
    assert place(fleet, [PlacedApp("a", 1)], {"a": ["n1"]}) == {"a": ("n2",)}


def test_drained_node_is_emptied_and_replaced_once_it_stopped() -> None:
    busy = [NodeView("n1", drained=True, running=frozenset({"a"})), NodeView("n2")]
    assert place(busy, [PlacedApp("a", 1)], {"a": ["n1"]}) == {"a": ()}
    stopped = [NodeView("n1", drained=True), NodeView("n2")]
    assert place(stopped, [PlacedApp("a", 1)], {"a": []}) == {"a": ("n2",)}


def test_running_copies_are_adopted_when_the_assignments_are_lost() -> None:
    fleet = [NodeView("n1"), NodeView("n2", running=frozenset({"a"}))]
    assert place(fleet, [PlacedApp("a", 1)], {}) == {"a": ("n2",)}


names = st.sampled_from([f"n{i}" for i in range(6)])
fleets = st.lists(
    st.builds(
        NodeView,
        name=names,
        state=st.sampled_from([LIVE, LIVE, SUSPECT, OFFLINE]),
        labels=st.dictionaries(st.sampled_from(["role", "zone"]), st.sampled_from(["a", "b"])),
        drained=st.booleans(),
    ),
    unique_by=lambda n: n.name,
)
app_lists = st.lists(
    st.builds(
        PlacedApp,
        name=st.sampled_from(["a", "b", "c", "d"]),
        count=st.integers(1, 4),
        labels=st.dictionaries(st.sampled_from(["role", "zone"]), st.sampled_from(["a", "b"])),
    ),
    unique_by=lambda a: a.name,
)
currents = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(names, max_size=4))


@settings(max_examples=300, deadline=None)
@given(fleets, app_lists, currents)
def test_invariants(
    fleet: list[NodeView], apps: list[PlacedApp], current: dict[str, list[str]]
) -> None:
    result = place(fleet, apps, current)
    by_name = {n.name: n for n in fleet}
    assert set(result) == {a.name for a in apps}
    for app in apps:
        chosen = result[app.name]
        assert len(chosen) == len(set(chosen)) <= app.count
        for name in chosen:
            node = by_name[name]
            assert node.may_keep(app), (app, node)  # never offline, drained, non-matching
            new = name not in current.get(app.name, ())
            assert not new or node.state == LIVE  # new ones only on live nodes
        takers = [n for n in fleet if n.may_take(app)]
        kept = [
            n for n in set(current.get(app.name, ())) if n in by_name and by_name[n].may_keep(app)
        ]
        # count respected when there are enough nodes (nothing runs elsewhere here)
        assert len(chosen) >= min(app.count, len(set(t.name for t in takers) | set(kept)))
        # stable: what was valid is kept (up to count)
        assert set(sorted(kept)[: app.count]) <= set(chosen)
    # deciding again on its own output changes nothing
    assert place(fleet, apps, result) == result
