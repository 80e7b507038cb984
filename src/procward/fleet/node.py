"""One daemon as a node of the fleet: heartbeat, election, the leader's loop, fenced orders.

Everything here runs in one asyncio task of its own (``FleetNode.run``), and
every Redis call in it is bounded by a timeout. Local supervision never waits
on it: the supervisor does not know the fleet exists, and the node only asks
it to start or stop a placed app (``Host``), in tasks of their own. When
Redis cannot be reached, ``unavailable`` says why, and the RPCs answer at
once from it rather than trying Redis again in the request.

Each tick (every ``heartbeat``):

1. one round trip renews our record and brings back the lease, the
   assignments and our drain flag (``FleetStore.heartbeat``);
2. assignments are applied only if their fence is at least the highest this
   node has ever seen (persisted in ``fleet.json``, so a restart does not
   forget it): a deposed leader's late write, or one that survived a Redis
   failover that lost the lease, cannot start a second copy;
3. a leader renews its lease (a refusal: it steps down at once, without
   acting) and, if still the leader, runs placement and writes the result
   through the fenced script; a follower that has not seen a lease held for
   its election timeout (drawn again in ``election_timeout`` each term)
   tries to take it, and with it the next fence.

The lease lives ``election_timeout``'s lower bound; the leader renews it each
heartbeat. A leader that cannot renew stops acting when its lease would have
expired by its own clock, whatever Redis says later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from procward.fleet.placement import Assignment, NodeView, PlacedApp, place
from procward.fleet.store import Assignments, Beat, FleetStore, NodeRecord, Snapshot
from procward.fleet.verdicts import verdict
from procward.kit._atomic import write_atomic

if TYPE_CHECKING:
    from procward.supervision.clusterkeys import ClusterSettings

__all__ = ["FleetNode", "Host"]

log = logging.getLogger("procward.fleet")

RECORD_LIFETIME = 10  # a node's record outlives its offline verdict this many times over
FORGET_EVERY = 30  # leader ticks between sweeps of expired names from the index


class Host(Protocol):
    """What the node needs of the daemon: its placed apps, and starting or stopping one."""

    def placed(self) -> list[PlacedApp]: ...

    def occupied(self) -> frozenset[str]:
        """Placed apps with a process, or on their way to one (not at rest)."""
        ...

    def summary(self) -> dict[str, list[int]]: ...

    def address(self) -> str: ...

    async def start(self, app: str) -> None: ...

    async def stop(self, app: str) -> None: ...


class FleetNode:
    def __init__(
        self,
        settings: ClusterSettings,
        store: FleetStore,
        host: Host,
        *,
        state_path: str,
        version: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.host = host
        self.state_path = state_path
        self.version = version
        self.clock = clock
        self.highest_fence = _read_fence(state_path)
        self.refused = 0  # assignment documents ignored for their old fence
        self.unavailable: str | None = "not connected yet"
        self.lease: str | None = None  # "node|fence" while we lead
        self.lease_until = 0.0
        self.drained = False
        self.last_ok = clock()
        self._lease_seen = clock()
        self._timeout = self._draw_timeout()
        self._acting: dict[str, asyncio.Task[None]] = {}  # one start or stop per app
        self._partitioned = False
        self._ticks = 0
        self._written: Assignment | None = None  # what we last wrote as leader

    @property
    def lease_ttl(self) -> float:
        return self.settings.election_timeout[0]

    @property
    def leader(self) -> bool:
        return self.lease is not None and self.clock() < self.lease_until

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is reported, never fatal."""
        while True:
            started = self.clock()
            try:
                await asyncio.wait_for(self.tick(), timeout=self._tick_timeout())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down, a timeout: say so, keep local apps
                self._lost(exc)
            await asyncio.sleep(max(0.0, self.settings.heartbeat - (self.clock() - started)))

    def _tick_timeout(self) -> float:
        return max(1.0, 2 * self.settings.heartbeat)

    async def tick(self) -> None:
        beat = await self.store.heartbeat(self._record(), self._record_ttl())
        self._connected()
        self.drained = beat.drained
        self.apply(beat.assignments)
        if self.lease is not None:
            await self._lead(beat)
        else:
            await self._follow(beat)

    # -- orders --------------------------------------------------------------------

    def apply(self, assignments: Assignments | None) -> None:
        """Start what is assigned to us, stop the placed apps that are not; fenced."""
        if assignments is None:
            return
        if assignments.fence < self.highest_fence:
            self.refused += 1
            log.warning(
                "ignored assignments of fence %d from %s: fence %d was seen already",
                assignments.fence,
                assignments.by,
                self.highest_fence,
            )
            return
        if assignments.fence > self.highest_fence:
            self.highest_fence = assignments.fence
            self._save_fence()
        occupied = self.host.occupied()
        for app in self.host.placed():
            mine = self.settings.node in assignments.apps.get(app.name, ())
            if mine and app.name not in occupied:
                self._act(app.name, self.host.start)
            elif not mine and app.name in occupied:
                self._act(app.name, self.host.stop)

    def _act(self, app: str, action: Callable[[str], Any]) -> None:
        pending = self._acting.get(app)
        if pending is not None and not pending.done():
            return
        self._acting[app] = asyncio.get_running_loop().create_task(
            self._logged(app, action), name=f"fleet-{app}"
        )

    async def _logged(self, app: str, action: Callable[[str], Any]) -> None:
        try:
            await action(app)
        except Exception as exc:
            log.warning("fleet: %s of %s failed: %s", action.__name__, app, exc)

    # -- leadership ----------------------------------------------------------------

    async def _follow(self, beat: Beat) -> None:
        now = self.clock()
        if beat.lease:
            self._lease_seen = now
            return
        if now - self._lease_seen < self._timeout:
            return
        snapshot = await self.store.placement_view()
        floor = max([self.highest_fence, *(record.fence for record in snapshot.nodes)])
        fence = await self.store.acquire(self.settings.node, self.lease_ttl, floor)
        self._timeout = self._draw_timeout()
        if fence:
            self.lease = f"{self.settings.node}|{fence}"
            self.lease_until = now + self.lease_ttl
            self.highest_fence = max(self.highest_fence, fence)
            self._save_fence()
            log.info("fleet: %s leads, fence %d", self.settings.node, fence)
            self._written = None
            await self._place(force=True)
        else:
            self._lease_seen = now

    async def _lead(self, beat: Beat) -> None:
        assert self.lease is not None
        sent = self.clock()
        if sent >= self.lease_until:  # our clock says it expired: act no more
            self._step_down("its lease expired before it could renew it")
            return
        renewed = await self.store.renew(self.lease, self.lease_ttl)
        if renewed != 1:
            why = "an admin asked it to" if renewed < 0 else "another node holds the lease"
            self._step_down(why)
            return
        self.lease_until = sent + self.lease_ttl
        await self._place(force=False)

    def _step_down(self, why: str) -> None:
        log.info("fleet: %s steps down (%s)", self.settings.node, why)
        self.lease = None
        self._lease_seen = self.clock()
        self._timeout = self._draw_timeout()

    async def step_down(self) -> None:
        """Give the lease up now (the node is stopping, or an admin asked this node)."""
        if self.lease is not None:
            lease, self.lease = self.lease, None
            await self.store.release(lease)

    async def _place(self, *, force: bool) -> None:
        """Decide placement from the whole fleet; write it if it changed (or a new fence)."""
        assert self.lease is not None
        fence = int(self.lease.rpartition("|")[2])
        snapshot = await self.store.placement_view()
        if any(record.fence > fence for record in snapshot.nodes):
            # Redis forgot fences (lost data): nodes would refuse ours. Another term,
            # whose acquisition starts above every fence the nodes report.
            await self.step_down()
            self._step_down("a node has seen a higher fence than ours")
            return
        nodes = self.views(snapshot)
        doc = snapshot.assignments
        # What we wrote is the truth, whatever a lower fence left in Redis since.
        if doc is not None and (doc.fence >= fence or self._written is None):
            current: Mapping[str, tuple[str, ...]] = doc.apps
        else:
            current = self._written or {}
        decided = place(nodes, self.host.placed(), current)
        unchanged = doc is not None and doc.fence == fence and dict(doc.apps) == decided
        if force or not unchanged:
            if self.lease is None or self.clock() >= self.lease_until:
                return
            ours = Assignments(fence, self.settings.node, decided)
            if not await self.store.assign(self.lease, ours):
                self._step_down("the fenced write was refused: another node leads")
                return
            self._written = decided
            self.apply(ours)
        self._ticks += 1
        if self._ticks % FORGET_EVERY == 0:
            await self.store.forget_expired()

    def views(self, snapshot: Snapshot) -> list[NodeView]:
        """Each node as placement sees it: its verdict on Redis's clock, labels, drain."""
        return [
            NodeView(
                record.name,
                verdict(
                    (snapshot.now - record.seen) / 1000,
                    record.heartbeat,
                    self.settings.offline_after,
                ),
                record.labels,
                record.name in snapshot.drained,
                frozenset(record.running),
            )
            for record in snapshot.nodes
        ]

    # -- Redis lost and found --------------------------------------------------------

    def _connected(self) -> None:
        if self.unavailable is not None:
            log.info("fleet: connected to Redis")
        self.unavailable = None
        self.last_ok = self.clock()
        self._partitioned = False

    def _lost(self, exc: BaseException) -> None:
        reason = _reason(exc)
        if self.unavailable is None:
            log.warning("fleet: Redis unavailable: %s", reason)
        self.unavailable = reason
        if self.lease is not None and self.clock() >= self.lease_until:
            self._step_down("Redis cannot be reached")
        away = self.clock() - self.last_ok
        if self.settings.on_partition == "stop" and away >= self.settings.offline_after / 2:
            self._stop_placed_once()

    def _stop_placed_once(self) -> None:
        """``on_partition = "stop"``: before the others call us offline and start them elsewhere."""
        if self._partitioned:
            return
        self._partitioned = True
        occupied = self.host.occupied()
        for app in self.host.placed():
            if app.name in occupied:
                log.warning("fleet: stopping %s: Redis lost and on_partition = stop", app.name)
                self._act(app.name, self.host.stop)

    # -- records ---------------------------------------------------------------------

    def _record(self) -> NodeRecord:
        return NodeRecord(
            name=self.settings.node,
            address=self.host.address(),
            labels=self.settings.labels,
            version=self.version,
            apps=self.host.summary(),
            running=tuple(sorted(self.host.occupied() & {a.name for a in self.host.placed()})),
            heartbeat=self.settings.heartbeat,
            offline_after=self.settings.offline_after,
            fence=self.highest_fence,
        )

    def _record_ttl(self) -> float:
        return max(RECORD_LIFETIME * self.settings.offline_after, 60.0)

    def _draw_timeout(self) -> float:
        low, high = self.settings.election_timeout
        return random.uniform(low, high)

    def _save_fence(self) -> None:
        data = {"fence": self.highest_fence, "node": self.settings.node}
        write_atomic(self.state_path, json.dumps(data).encode())

    async def close(self) -> None:
        """Stop acting: give the lease up (bounded), leave placed apps as they are."""
        for task in self._acting.values():
            task.cancel()
        try:
            await asyncio.wait_for(self.step_down(), timeout=1.0)
        except Exception as exc:
            log.info("fleet: lease not released (%s); it expires on its own", _reason(exc))


def _read_fence(path: str) -> int:
    """The highest fence seen before a restart; 0 without the file (a new node)."""
    try:
        with open(path, "rb") as f:
            fence = json.loads(f.read()).get("fence", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return fence if isinstance(fence, int) and fence >= 0 else 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "Redis did not answer in time"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def fence_path(state_dir: str) -> str:
    return os.path.join(state_dir, "fleet.json")
