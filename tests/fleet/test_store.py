"""``store.FleetStore`` against a real redis-server: the scripts' guarantees, one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from procward.fleet.store import Assignments, FleetStore, NodeRecord
from tests.fleet.conftest import RedisServer


def run(server: RedisServer, body: Callable[[FleetStore, Any], Awaitable[None]]) -> None:
    from redis.asyncio import Redis

    async def main() -> None:
        redis = Redis.from_url(server.url, decode_responses=True)
        try:
            await body(FleetStore(redis, "test"), redis)
        finally:
            await redis.aclose()

    asyncio.run(main())


def test_lease_and_fence_are_taken_together(redis_server: RedisServer) -> None:
    async def body(store: FleetStore, redis: Any) -> None:
        assert await store.acquire("n1", 5) == 1
        assert await store.acquire("n2", 5) == 0  # held
        assert await store.renew("n2|1", 5) == 0  # not the holder
        assert await store.renew("n1|1", 5) == 1
        assert await store.release("n1|1")
        assert await store.acquire("n2", 5) == 2  # a new fence at each acquisition
        assert await store.renew("n1|1", 5) == 0  # the deposed leader cannot renew

    run(redis_server, body)


def test_only_the_holder_with_its_fence_writes_assignments(redis_server: RedisServer) -> None:
    async def body(store: FleetStore, redis: Any) -> None:
        fence = await store.acquire("n1", 0.2)
        assert await store.assign(f"n1|{fence}", Assignments(fence, "n1", {"a": ("n1",)}))
        await asyncio.sleep(0.3)  # the lease expires (Redis's PX); the only sleep: Redis's clock
        new = await store.acquire("n2", 5)
        assert new == fence + 1
        stale = Assignments(fence, "n1", {"a": ("n3",)})
        assert not await store.assign(f"n1|{fence}", stale)
        beat = await store.heartbeat(NodeRecord("n3"), 10)
        assert beat.assignments == Assignments(fence, "n1", {"a": ("n1",)})
        assert beat.lease == f"n2|{new}"

    run(redis_server, body)


def test_step_down_is_asked_of_the_holder(redis_server: RedisServer) -> None:
    async def body(store: FleetStore, redis: Any) -> None:
        await store.acquire("n1", 5)
        assert await store.ask_step_down(5) == "n1|1"
        assert await store.renew("n1|1", 5) == -1
        assert await redis.get(store.key("lease")) is None

    run(redis_server, body)


def test_status_is_one_round_trip_at_50_nodes(redis_server: RedisServer) -> None:
    async def body(store: FleetStore, redis: Any) -> None:
        for i in range(50):
            record = NodeRecord(
                f"n{i:02}", f"10.0.0.{i}:9700", {"zone": "a"}, "1.0", {"web": [1, 1]}
            )
            await store.heartbeat(record, 60)
        await store.set_drained("n07", True)
        await store.snapshot()  # loads the script (EVALSHA's first NOSCRIPT)
        sent: list[object] = []
        send = redis.execute_command

        async def counted(*args: object, **options: object) -> object:
            sent.append(args[0])
            return await send(*args, **options)

        redis.execute_command = counted
        snapshot = await store.snapshot()
        assert sent == ["EVALSHA"]  # one round trip, not one per node
        assert [n.name for n in snapshot.nodes] == [f"n{i:02}" for i in range(50)]
        assert snapshot.nodes[3].address == "10.0.0.3:9700"
        assert snapshot.nodes[3].apps == {"web": [1, 1]}
        assert snapshot.drained == {"n07"}
        assert snapshot.nodes[0].seen <= snapshot.now

    run(redis_server, body)


def test_a_damaged_record_reads_as_defaults(redis_server: RedisServer) -> None:
    async def body(store: FleetStore, redis: Any) -> None:
        await store.heartbeat(NodeRecord("n1"), 60)
        await redis.hset(store.key("node:n1"), mapping={"labels": "{not json", "apps": "[]"})
        await redis.set(store.key("assignments"), "garbage")
        snapshot = await store.snapshot()
        assert snapshot.nodes[0].labels == {} and snapshot.nodes[0].apps == {}
        assert snapshot.assignments is None

    run(redis_server, body)
