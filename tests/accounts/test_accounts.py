import asyncio
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autan.accounts.accounts import ADMIN_KEY_FILE, Accounts
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.accounts.memory_limits import MemoryLimits
from autan.accounts.prices import Price, StaticPrices
from autan.accounts.redis_limits import RedisLimits
from autan.errors import RateLimited, Unauthorized
from autan.protocol.chat import UsageInfo
from autan.storage.database import Database
from tests.databases import REDIS_URL, database_url, redis_prefix
from tests.fakes import fake_engine, served_model


def test_the_first_start_makes_one_admin_key_in_a_private_file(
    db: Database, tmp_path: Path
) -> None:
    accounts = Accounts(db, MemoryLimits())
    secret = accounts.bootstrap_admin_key(tmp_path / "data")
    assert secret is not None
    path = tmp_path / "data" / ADMIN_KEY_FILE
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = accounts.authenticate(secret)
    assert key.is_admin and key.name == "admin"
    assert accounts.bootstrap_admin_key(tmp_path / "data") is None
    assert path.read_text().strip() == secret


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SQLite: one server per file
def test_processes_starting_together_make_one_admin_key(db: Database, tmp_path: Path) -> None:
    def start(i: int) -> str | None:
        return Accounts(db, MemoryLimits()).bootstrap_admin_key(tmp_path / str(i))

    with ThreadPoolExecutor(4) as pool:
        secrets = [s for s in pool.map(start, range(4)) if s is not None]
    assert len(secrets) == 1
    assert [k.is_admin for k in Accounts(db, MemoryLimits()).keys.list()] == [True]


def test_authenticate_refuses_what_is_not_a_live_key(db: Database) -> None:
    accounts = Accounts(db, MemoryLimits())
    key, secret = accounts.keys.create(
        workspace_id=accounts.workspaces.default().id, actor=Actor.command_line()
    )
    assert accounts.authenticate(secret) == key
    for bad in (None, "", "sk-autan-nope"):
        with pytest.raises(Unauthorized):
            accounts.authenticate(bad)
    accounts.keys.revoke(key.id, actor=Actor.command_line())
    with pytest.raises(Unauthorized, match="revoked"):
        accounts.authenticate(secret)


def test_batch_requests_cost_half(db: Database) -> None:
    prices = StaticPrices({"fake-model": Price(input=1.0, output=3.0)})
    accounts = Accounts(db, MemoryLimits(), prices=prices)
    key, _ = accounts.keys.create(
        workspace_id=accounts.workspaces.default().id, actor=Actor.command_line()
    )
    engine, _ = fake_engine()
    model = served_model("fake-model", engine, aliases=["mistral-small-latest"])
    try:
        costs = []
        for batch in (False, True):
            meter = accounts.meter(key, "/v1/chat/completions", batch=batch)
            asyncio.run(meter.admit(model, "fake-model", 1000, 100))
            usage = UsageInfo(prompt_tokens=1000, completion_tokens=10, total_tokens=1010)
            asyncio.run(meter.settle(usage))
            record = meter.record(200)
            assert record.batch is batch
            costs.append(record.cost)
        assert costs[0] == pytest.approx((1000 * 1.0 + 10 * 3.0) / 1e6)
        assert costs[1] == pytest.approx(costs[0] / 2)
    finally:
        engine.close()


def test_a_model_owned_by_a_workspace_is_unknown_to_other_workspaces(db: Database) -> None:
    from autan.errors import UnknownModel

    accounts = Accounts(db, MemoryLimits())
    actor = Actor.command_line()
    home = accounts.workspaces.default()
    other = accounts.workspaces.create("other", actor=actor)
    mine, _ = accounts.keys.create(workspace_id=home.id, actor=actor)
    theirs, _ = accounts.keys.create(workspace_id=other.id, actor=actor)
    engine, _ = fake_engine()
    model = served_model("ft:tiny:1", engine, workspace=home.id)
    try:
        asyncio.run(accounts.meter(mine, "/v1/chat/completions").admit(model, "ft:tiny:1", 10, 10))
        with pytest.raises(UnknownModel):
            asyncio.run(
                accounts.meter(theirs, "/v1/chat/completions").admit(model, "ft:tiny:1", 10, 10)
            )
    finally:
        engine.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_key_s_changed_limits_hold_at_once_in_every_process(kind: str, tmp_path: Path) -> None:
    """Two processes on one database and one Redis: limits changed through one hold on the
    other's very next request, as a revocation does."""
    for url in database_url(kind, tmp_path):
        for prefix in redis_prefix():
            dbs = [Database.open(url, tmp_path) for _ in range(2)]
            try:
                here, there = (Accounts(d, RedisLimits(REDIS_URL, prefix=prefix)) for d in dbs)
                key, secret = here.keys.create(
                    workspace_id=here.workspaces.default().id,
                    actor=Actor.command_line(),
                    limits=KeyLimits(requests_per_minute=100, models=("m1",)),
                )
                there.meter(there.authenticate(secret), "/v1/chat/completions").limit_request()
                here.keys.set_limits(
                    key.id,
                    KeyLimits(requests_per_minute=1, models=("m2",)),
                    actor=Actor.command_line(),
                )
                seen = there.authenticate(secret)
                assert seen.requests_per_minute == 1 and seen.allows("m2") and not seen.allows("m1")
                there.meter(seen, "/v1/chat/completions").limit_request()
                with pytest.raises(RateLimited):
                    there.meter(there.authenticate(secret), "/v1/chat/completions").limit_request()
            finally:
                for d in dbs:
                    d.close()
