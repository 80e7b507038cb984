"""The asyncio client against a real daemon."""

from __future__ import annotations

import asyncio

import pytest

from procward.kit._aclient import AsyncClient, connect
from procward.kit._errors import InvalidParams, NotRunning

from .conftest import Sample


def test_async_connect_spawns_calls_and_streams(sample: Sample) -> None:
    async def scenario() -> None:
        client = await connect(sample.paths, spawn_argv=sample.argv())
        async with client:
            assert (await client.call("ping"))["version"] == "9.9"
            ticks = [params["i"] async for _m, params in client.stream("count", n=5)]
            assert ticks == [0, 1, 2, 3, 4]
            with pytest.raises(InvalidParams):
                await client.call("sleep", seconds="soon")
            assert await client.call("echo", value=[1, "two"]) == [1, "two"]

    asyncio.run(scenario())


def test_async_connect_without_spawn(sample: Sample) -> None:
    async def scenario() -> None:
        with pytest.raises(NotRunning):
            await connect(sample.paths)

    sample.paths.ensure()
    asyncio.run(scenario())


def test_concurrent_calls_on_one_client(sample: Sample) -> None:
    sample.start()

    async def scenario() -> list[object]:
        async with await AsyncClient.open(sample.paths.socket) as client:
            return list(await asyncio.gather(*(client.call("echo", value=i) for i in range(20))))

    assert asyncio.run(scenario()) == list(range(20))
