"""Real daemons as a fleet on a real redis-server: membership, placement, failures.

Three (or two) daemons on this machine, each in its own home with its own
node name and TCP port, share one redis-server started for the test. The
timings are short (heartbeat 0.2 s, offline after 2 s, election 0.5-1 s) so
failures show within seconds. ``Copies`` samples every ~10 ms how many
processes of the placed app run on the whole machine: "exactly one copy" is
asserted over the whole run, not at a few chosen moments.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from procward.kit._errors import Conflict
from procward.kit.testing import wait_for
from tests.cli.test_json import SHAPES
from tests.fleet.conftest import RedisServer
from tests.fleet.nodes import Copies, Fleet, Node

pytestmark = pytest.mark.slow


def settled(node: Node, count: int) -> dict[str, Any] | None:
    """``getFleet`` once ``count`` nodes are live and one leads."""
    view = node.fleet()
    if view is None or not view["leader"]:
        return None
    live = [n for n in view["nodes"] if n["state"] == "live"]
    return view if len(live) == count else None


def test_status_shows_every_node_and_the_leader(fleet: Fleet) -> None:
    nodes = [fleet.add(name) for name in ("n1", "n2", "n3")]
    view = wait_for(lambda: settled(nodes[0], 3), 15, 0.05, what="3 live nodes and a leader")
    assert [n["name"] for n in view["nodes"]] == ["n1", "n2", "n3"]
    assert sum(n["leader"] for n in view["nodes"]) == 1
    assert {n["address"] for n in view["nodes"]} == {f"127.0.0.1:{n.port}" for n in nodes}
    assert view["nodes"][0]["labels"] == {"role": "web"}
    assert view["nodes"][0]["apps"]["local"][1] == 1  # [running, instances]
    # every node sees the same leader
    assert {n.fleet()["leader"] for n in nodes} == {view["leader"]}  # type: ignore[index]
    done = nodes[1].cli("fleet", "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"fleet test: 3 nodes, leader {view['leader']}, fence ")
    assert [line.split()[0] for line in lines[2:5]] == ["n1", "n2", "n3"]
    assert "placed reporter: " in done.stdout
    done = nodes[1].cli("fleet", "status", "--json")
    assert len(json.loads(done.stdout)["nodes"]) == 3
    assert set(json.loads(done.stdout)) == SHAPES["fleet"]  # as docs/cli-json.md says


def test_every_fleet_reply_decodes_into_its_record(fleet: Fleet) -> None:
    """What tests/cli/test_replies.py does for the other methods, which need no fleet."""
    from procward.reports import FleetAddress, FleetDrained, FleetLeader, FleetView

    n1 = fleet.add("n1")
    wait_for(lambda: settled(n1, 1), 15, 0.05, what="a leader")
    assert FleetView.from_dict(n1.call("getFleet")).nodes[0].name == "n1"
    assert FleetAddress.from_dict(n1.call("fleetAddress", node="n1")).node == "n1"
    assert FleetDrained.from_dict(n1.call("fleetDrain", node="n1", drained=False)).node == "n1"
    assert FleetLeader.from_dict(n1.call("fleetStepDown")).leader == "n1"


def test_one_copy_through_drain_and_node_kill(fleet: Fleet) -> None:
    for name in ("n1", "n2", "n3"):
        fleet.add(name)
    with Copies(fleet.marker) as copies:
        first = fleet.wait_runner()
        any_node = fleet.nodes["n1"]
        any_node.call("fleetDrain", node=first)
        second = fleet.wait_runner(exclude=first)
        assert fleet.nodes[first].state_of("reporter") == "stopped"
        any_node.call("fleetDrain", node=first, drained=False)
        # node kill: `procward kill` ends the daemon and its apps; the app moves
        killed = fleet.nodes[second]
        began = time.monotonic()
        assert killed.cli("kill").returncode == 0
        survivors = [n for n in fleet.nodes.values() if n is not killed]
        third = wait_for(
            lambda: [n.name for n in survivors if n.state_of("reporter") == "running"],
            10,
            0.02,
            what="reporter running on another node",
        )
        moved = time.monotonic() - began
        assert len(third) == 1 and third[0] != second
        print(f"node kill -> running elsewhere: {moved:.2f}s")
    assert copies.samples > 100
    assert copies.most == 1, f"two copies of a count = 1 app ran at once: {copies.seen}"


def test_leader_kill_9_elects_another_within_the_election_timeout(fleet: Fleet) -> None:
    nodes = [fleet.add(name) for name in ("n1", "n2", "n3")]
    view = wait_for(lambda: settled(nodes[0], 3), 15, 0.05, what="a leader")
    leader = fleet.nodes[view["leader"]]
    others = [n for n in nodes if n is not leader]
    began = time.monotonic()
    os.kill(leader.pid, signal.SIGKILL)

    def new_leader() -> str | None:
        got = others[0].fleet()
        return got["leader"] if got and got["leader"] not in (None, leader.name) else None

    wait_for(new_leader, 10, 0.02, what="a new leader")
    elapsed = time.monotonic() - began
    # the lease (0.5 s) runs out, then a follower's timeout (0.5-1 s), plus a heartbeat or two
    assert elapsed < 0.5 + 1.0 + 3 * 0.2 + 0.5, elapsed
    print(f"leader kill -9 -> new leader: {elapsed:.2f}s")


def test_a_paused_leader_is_replaced_and_steps_down_without_acting(fleet: Fleet) -> None:
    """Split brain: SIGSTOP the leader past its lease, then SIGCONT it."""
    old = fleet.add("n1", labels='{ role = "db" }')  # leads; never runs the web app
    wait_for(lambda: settled(old, 1), 15, 0.05, what="n1 leading")
    fleet.add("n2")
    fleet.add("n3")
    with Copies(fleet.marker) as copies:
        runner = fleet.wait_runner()
        before = old.fleet()
        assert before is not None and before["leader"] == "n1"
        os.kill(old.pid, signal.SIGSTOP)
        try:
            watcher = fleet.nodes["n2"]
            view = wait_for(
                lambda: (v := watcher.fleet()) and v["leader"] in ("n2", "n3") and v,
                10,
                0.02,
                what="a new leader while n1 is paused",
            )
            assert view["fence"] > before["fence"]
        finally:
            os.kill(old.pid, signal.SIGCONT)
        after = wait_for(
            lambda: (v := old.fleet()) and v["seen_fence"] >= view["fence"] and v,
            10,
            0.02,
            what="n1 back, following",
        )
        assert after["leader"] != "n1"
        assert after["assignments"]["by"] != "n1"  # its fenced write never landed
        assert fleet.runners() == [runner]  # nothing moved
    assert copies.most == 1


def test_assignments_below_the_highest_fence_are_ignored(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """A late write of a deposed leader (or one a Redis failover resurrected) starts nothing.

    The stale document assigns the app to *both* nodes: a node that obeyed it
    would start a second copy. Without the fence check this test fails.
    """
    import json

    import redis

    n1, n2 = fleet.add("n1"), fleet.add("n2")
    with Copies(fleet.marker) as copies:
        fleet.wait_runner()
        view = wait_for(lambda: settled(n1, 2), 10, 0.05, what="two nodes")
        stale = {"fence": view["fence"] - 1, "by": "ghost", "apps": {"reporter": ["n1", "n2"]}}
        if stale["fence"] < 1:  # the first leader's fence is 1: make the real one higher
            n1.call("fleetStepDown")
            view = wait_for(
                lambda: (v := n1.fleet()) and v["fence"] >= 2 and v["leader"] and v,
                10,
                0.02,
                what="a second term",
            )
            stale["fence"] = view["fence"] - 1
        # Every node has obeyed the current fence: the stale document is older than
        # what each has seen (a node that had not would rightly take it as news).
        for node in (n1, n2):
            wait_for(
                lambda n=node: (v := n.fleet()) and v["seen_fence"] >= view["fence"],
                10,
                0.02,
                what=f"{node.name} at fence {view['fence']}",
            )
        client = redis.Redis.from_url(redis_server.url)

        def refused() -> bool:
            # again until a node has read it: the leader may overwrite it first
            client.set("procward:fleet:{test}:assignments", json.dumps(stale))
            return sum(n.fleet()["refused"] for n in (n1, n2)) >= 1  # type: ignore[index]

        try:
            wait_for(refused, 10, 0.05, what="a node refusing the stale assignments")
        finally:
            client.close()
        assert len(fleet.runners()) == 1
    assert copies.most == 1


def test_redis_lost_then_back(fleet: Fleet, redis_server: RedisServer) -> None:
    n1, n2 = fleet.add("n1"), fleet.add("n2")
    wait_for(lambda: settled(n1, 2), 15, 0.05, what="two nodes")
    runner = fleet.wait_runner()
    wait_for(lambda: n1.state_of("local") == "running", 10, 0.02, what="local running")
    local_pid = n1.call("getApp", name="local")["instances"][0]["pid"]
    redis_server.kill()
    began = time.monotonic()
    with pytest.raises(Conflict, match=r"^fleet unavailable: "):
        n1.call("getFleet")
    assert time.monotonic() - began < 1.0
    done = n1.cli("fleet", "status")
    assert done.returncode == 1 and "fleet unavailable: " in done.stderr
    # local supervision is untouched: same pid, still running; the placed app kept
    assert n1.call("getApp", name="local")["instances"][0]["pid"] == local_pid
    assert n1.state_of("local") == "running"
    assert fleet.runners() == [runner]
    redis_server.start()  # empty: no persistence; the nodes rebuild it
    view = wait_for(lambda: settled(n2, 2), 15, 0.05, what="the fleet back")
    assert view["assignments"] is not None
    assert fleet.wait_runner() == runner


def test_at_node_runs_a_command_there_with_the_callers_role(fleet: Fleet) -> None:
    n1, n2 = fleet.add("n1"), fleet.add("n2")
    wait_for(lambda: settled(n1, 2), 15, 0.05, what="two nodes")
    # the owner (admin on n1's socket) reaches n2: its pid answers, an admin's stop works
    done = n1.cli("@n2", "ping", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pid"] == n2.pid
    assert n1.cli("@n2", "stop", "local").returncode == 0
    assert n2.state_of("local") == "stopped" and n1.state_of("local") != "stopped"
    assert n1.cli("@n2", "start", "local").returncode == 0
    wait_for(lambda: n2.state_of("local") == "running", 10, 0.02, what="local running on n2")
    # a viewer of n1 (over its TCP listener) gets a viewer's token for n2: no more
    token = n1.cli("token", "create", "viewer").stdout.strip()
    viewer = {"PROCWARD_CONNECT": f"127.0.0.1:{n1.port}", "PROCWARD_TOKEN": token}
    n1.env.update(viewer)
    try:
        done = n1.cli("@n2", "status")
        assert done.returncode == 0, done.stderr
        assert "local" in done.stdout
        done = n1.cli("@n2", "stop", "local")
        assert done.returncode == 1
        assert "operator" in done.stderr, done.stderr  # forbidden: needs operator
        assert n2.state_of("local") == "running"
    finally:
        for name in viewer:
            del n1.env[name]
    done = n1.cli("@nowhere", "status")
    # Neither an alias nor a node: a usage error, saying both.
    assert done.returncode == 2 and "no node 'nowhere' in the fleet" in done.stderr
    assert "no such remote" in done.stderr


def test_a_fleet_token_is_refused_without_the_fleet_key(fleet: Fleet) -> None:
    """A token of the right shape signed with another key: refused, like any wrong token."""
    import jwt

    from procward.kit._client import Client
    from procward.kit._errors import Unauthorized

    n1 = fleet.add("n1")
    wait_for(lambda: settled(n1, 1), 15, 0.05, what="a leader")
    now = int(time.time())
    claims = {"aud": "procward-fleet:test", "sub": "x", "role": "admin", "iat": now}
    forged = jwt.encode({**claims, "exp": now + 30, "iss": "procward"}, "k" * 32, "HS256")
    with pytest.raises(Unauthorized, match="invalid fleet token"):
        Client.open_tcp(f"127.0.0.1:{n1.port}", forged, timeout=5)


def test_a_restarted_daemon_rejoins_and_runs_its_placed_app_again(fleet: Fleet) -> None:
    n1 = fleet.add("n1")
    fleet.wait_runner()
    assert n1.cli("down").returncode == 0
    assert n1.cli("up").returncode == 0  # no -c: cluster.json brings the fleet back
    n1.pid = int(n1.call("ping")["pid"])
    wait_for(lambda: settled(n1, 1), 15, 0.05, what="n1 back in the fleet")
    assert fleet.wait_runner() == "n1"


def test_on_partition_stop_stops_placed_apps_when_redis_is_lost(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    """Before the others would call it offline (2 s), not its local apps."""
    n1 = fleet.add("n1", extra='on_partition = "stop"\n')
    fleet.wait_runner()
    redis_server.kill()
    began = time.monotonic()
    wait_for(lambda: n1.state_of("reporter") == "stopped", 10, 0.02, what="reporter stopped")
    assert time.monotonic() - began < 2.0
    assert n1.state_of("local") in ("starting", "running")  # not the fleet's: untouched
    redis_server.start()
    assert fleet.wait_runner() == "n1"  # back with Redis


def test_a_new_fleet_key_and_a_reload_refuse_the_old_tokens(fleet: Fleet) -> None:
    from procward.kit._client import Client
    from procward.kit._errors import Unauthorized

    n1, n2 = fleet.add("n1"), fleet.add("n2")
    wait_for(lambda: settled(n1, 2), 15, 0.05, what="two nodes")
    old = n1.call("fleetAddress", node="n2")
    Client.open_tcp(old["address"], old["token"], timeout=5).close()  # accepted
    with open(fleet.key_file, "w") as f:
        f.write(os.urandom(32).hex())
    for node in (n1, n2):
        assert node.cli("reload").returncode == 0
    with pytest.raises(Unauthorized, match="invalid fleet token"):
        Client.open_tcp(old["address"], old["token"], timeout=5)
    new = n1.call("fleetAddress", node="n2")
    Client.open_tcp(new["address"], new["token"], timeout=5).close()
