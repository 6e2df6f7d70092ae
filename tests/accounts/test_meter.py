"""A meter's limits are taken and given back off the event loop, and a cancelled request
still gives back what it reserved."""

import asyncio
from collections.abc import Callable

import pytest

from autan.accounts.accounts import Accounts
from autan.accounts.api_key import ApiKey
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.inference.engine import LocalEngine
from autan.models.registry import ServedModel
from autan.protocol.chat import UsageInfo
from autan.storage.database import Database
from tests.accounts.gated_limits import GatedLimits
from tests.fakes import fake_engine, served_model


def _tokens(operation: str, bucket: str) -> bool:
    return operation == "take" and ":tokens:" in bucket


def _metered(
    db: Database, gated: Callable[[str, str], bool]
) -> tuple[GatedLimits, Accounts, ApiKey, LocalEngine, ServedModel]:
    """Limits that hold the calls ``gated`` picks, and a key of 1000 tokens a minute on them."""
    limits = GatedLimits(gated)
    accounts = Accounts(db, limits)
    key, _ = accounts.keys.create(
        workspace_id=accounts.workspaces.default().id,
        actor=Actor.command_line(),
        limits=KeyLimits(tokens_per_minute=1000),
    )
    engine, _ = fake_engine()
    return limits, accounts, key, engine, served_model("fake-model", engine)


def test_admit_and_settle_run_their_limit_calls_off_the_event_loop(db: Database) -> None:
    limits, accounts, key, engine, model = _metered(db, lambda operation, bucket: False)

    async def main() -> None:
        meter = accounts.meter(key, "/v1/chat/completions")
        await meter.admit(model, "fake-model", 100, 100)
        await meter.settle(UsageInfo(prompt_tokens=100, completion_tokens=10, total_tokens=110))

    try:
        asyncio.run(main())
    finally:
        engine.close()
    bucket = f"{key.id}:tokens:1000"
    made = [(c.operation, c.bucket) for c in limits.calls]
    assert ("take", bucket) in made and ("refund", bucket) in made
    assert [c for c in limits.calls if c.on_event_loop] == []
    # What was reserved and not used went back: 110 of 1000 stay taken (or a token's refill).
    assert 890 <= limits.limits.peek(bucket, 1000).remaining <= 891


def test_a_request_cancelled_while_its_tokens_are_taken_gives_them_back(db: Database) -> None:
    limits, accounts, key, engine, model = _metered(db, _tokens)
    bucket = f"{key.id}:tokens:1000"

    async def main() -> None:
        meter = accounts.meter(key, "/v1/chat/completions")
        admit = asyncio.create_task(meter.admit(model, "fake-model", 300, 200))
        assert await asyncio.to_thread(limits.waiting.wait, 10), "the tokens were never taken"
        admit.cancel()  # the client went away while the store was slow
        with pytest.raises(asyncio.CancelledError):
            await admit
        limits.gate.set()  # the take completes after its request is gone...
        assert await asyncio.to_thread(limits.wait_for, "refund", bucket), "never given back"

    try:
        asyncio.run(main())
    finally:
        engine.close()
    assert [(c.operation, c.bucket) for c in limits.calls] == [
        ("take", bucket),
        ("refund", bucket),  # ...and what it took goes back
    ]
    assert limits.limits.peek(bucket, 1000).remaining == 1000


def test_a_request_cancelled_while_its_tokens_go_back_still_gives_them_back(db: Database) -> None:
    limits, accounts, key, engine, model = _metered(
        db, lambda operation, bucket: operation == "refund"
    )
    bucket = f"{key.id}:tokens:1000"
    meter = accounts.meter(key, "/v1/chat/completions")

    async def main() -> None:
        await meter.admit(model, "fake-model", 300, 200)
        used = UsageInfo(prompt_tokens=300, completion_tokens=20, total_tokens=320)
        settle = asyncio.create_task(meter.settle(used))
        assert await asyncio.to_thread(limits.waiting.wait, 10), "nothing was given back"
        settle.cancel()
        with pytest.raises(asyncio.CancelledError):
            await settle
        limits.gate.set()
        assert await asyncio.to_thread(limits.wait_for, "refund", bucket), "never given back"

    try:
        asyncio.run(main())
    finally:
        engine.close()
    assert meter.record(200).completion_tokens == 20  # the usage is known at once
    # 320 of the 500 reserved stay taken (or a token's refill).
    assert 680 <= limits.limits.peek(bucket, 1000).remaining <= 681
