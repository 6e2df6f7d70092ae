"""Deployment health and concurrency, in one process and shared through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from autan.routing.deployment_state import MAX_COOLDOWN, Health, LocalState, RedisState
from tests.databases import REDIS_URL, redis_prefix


@pytest.fixture(name="redis_prefix")
def _redis_prefix() -> Iterator[str]:
    yield from redis_prefix()


def test_cooldowns_double_and_honour_a_longer_retry_after() -> None:
    health = Health()
    now = 1000.0
    health.failed("boom", None, now)
    assert health.state(now) == "cooling" and health.down_until == now + 1
    health.failed("boom", None, now)
    assert health.down_until == now + 2
    health.failed("slow down", 30, now)
    assert health.down_until == now + 30
    for _ in range(20):
        health.failed("boom", None, now)
    assert health.down_until == now + MAX_COOLDOWN
    assert health.state(now + MAX_COOLDOWN) == "probing"


def test_local_concurrency_stops_at_the_limit() -> None:
    async def run() -> None:
        state = LocalState()
        tokens = [await state.acquire("d", 2) for _ in range(3)]
        assert tokens[2] is None and state.outstanding("d") == 2
        await state.release("d", tokens[0] or "")
        assert await state.acquire("d", 2) is not None

    asyncio.run(run())


def test_two_processes_share_cooldowns_concurrency_and_one_prober(redis_prefix: str) -> None:
    async def run() -> None:
        one = RedisState(REDIS_URL, redis_prefix)
        two = RedisState(REDIS_URL, redis_prefix)
        try:
            await one.failed("d", "connection refused", None)
            await two.refresh(["d"])
            seen = two.health("d")
            assert seen.failures == 1 and seen.last_error == "connection refused"
            assert seen.down_until > time.time()
            await two.recovered("d")
            await one.refresh(["d"])
            assert one.health("d").state(time.time()) == "healthy"

            first = await one.acquire("d", 2)
            second = await two.acquire("d", 2)
            assert first and second
            assert await one.acquire("d", 2) is None  # the limit holds across both
            await two.refresh(["d"])
            assert two.outstanding("d") == 2
            await one.release("d", first)
            assert await two.acquire("d", 2) is not None

            assert [await one.may_probe(), await two.may_probe()] == [True, False]
            assert await one.may_probe()  # the holder keeps it
        finally:
            await one.close()
            await two.close()

    asyncio.run(run())


def test_slots_of_a_process_that_died_expire(redis_prefix: str) -> None:
    async def run() -> None:
        dead = RedisState(REDIS_URL, redis_prefix, slot_seconds=0.2)
        alive = RedisState(REDIS_URL, redis_prefix)
        try:
            assert await dead.acquire("d", 1)
            assert await alive.acquire("d", 1) is None
            await asyncio.sleep(0.3)  # never released: the holder died
            assert await alive.acquire("d", 1) is not None
        finally:
            await dead.close()
            await alive.close()

    asyncio.run(run())
