"""The in-memory and the Redis limit stores behave the same."""

from collections.abc import Iterator

import pytest

from autan.accounts.limit_store import LimitStore
from autan.accounts.memory_limits import MemoryLimits
from autan.accounts.redis_limits import RedisLimits
from tests.databases import REDIS_URL, redis_prefix


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> Iterator[LimitStore]:
    if request.param == "memory":
        yield MemoryLimits()
        return
    for prefix in redis_prefix():
        store = RedisLimits(REDIS_URL, prefix=prefix)
        try:
            yield store
        finally:
            store.close()


def test_take_counts_down_then_refuses_with_the_wait(limits: LimitStore) -> None:
    decisions = [limits.take("key:requests", 50, 1) for _ in range(51)]
    assert [d.remaining for d in decisions[:50]] == list(range(49, -1, -1))
    assert all(d.allowed for d in decisions[:50])
    assert not decisions[50].allowed
    # One request refills every 1.2 s; some of it has passed already.
    assert 0 < decisions[50].retry_after_us <= 1_200_000
    assert decisions[50].retry_after_s in (1, 2)


def test_buckets_are_separate(limits: LimitStore) -> None:
    limits.take("a:tokens", 100, 100)
    assert limits.peek("a:tokens", 100).remaining == 0
    assert limits.peek("b:tokens", 100).remaining == 100


def test_refund_returns_unused_reservation(limits: LimitStore) -> None:
    limits.take("key:tokens", 1000, 900)
    limits.refund("key:tokens", 1000, 600)
    assert limits.peek("key:tokens", 1000).remaining in (699, 700)
    assert limits.take("key:tokens", 1000, 650).allowed


def test_spend_is_reserved_within_the_limit_and_corrected(limits: LimitStore) -> None:
    reads: list[str] = []

    def spent() -> float:
        reads.append("read")
        return 2.0

    assert limits.reserve_spend("ws:spend:2026-11", 5.0, 2.5, spent) == pytest.approx(4.5)
    assert limits.reserve_spend("ws:spend:2026-11", 5.0, 1.0, spent) is None
    limits.add_spend("ws:spend:2026-11", -2.0)
    assert limits.reserve_spend("ws:spend:2026-11", 5.0, 1.0, spent) == pytest.approx(3.5)
    assert reads == ["read"], "the ledger is read once, when the bucket is first used"


def test_spend_corrections_leave_unused_buckets_alone(limits: LimitStore) -> None:
    limits.add_spend("other:spend:2026-11", 3.0)
    assert limits.reserve_spend("other:spend:2026-11", 1.0, 0.5, lambda: 0.0) == 0.5
