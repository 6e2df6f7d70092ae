"""Migration 0005: the request log and the daily rollups, filled from the usage already
recorded; and back, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import inspect, text

from autan.accounts.usage_rollup import UsageRollups
from autan.storage.database import Database
from tests.storage.test_migration_0004_jobs import _alembic

_RECORD = text(
    "INSERT INTO usage_records (created_at, key_id, workspace_id, endpoint, model,"
    " prompt_tokens, completion_tokens, cost, latency_ms, status, batch)"
    " VALUES (:c, 'k', 'ws', :e, :m, :p, 1, 0.5, 3.0, :s, :b)"
)


def test_rollups_are_filled_from_the_usage_records_and_dropped_on_downgrade(db: Database) -> None:
    _alembic(db, "0004_jobs", down=True)
    day = datetime(2026, 5, 6, 7, 8)
    with db.engine.begin() as conn:
        for endpoint, model, prompt, status, batch in (
            ("/v1/chat/completions", "m", 10, 200, False),
            ("/v1/chat/completions", "m", 20, 200, False),
            ("/v1/chat/completions", "m", 0, 429, False),
            ("/v1/chat/completions", "m", 5, 200, True),
            ("/v1/models", None, 0, 200, False),
        ):
            conn.execute(
                _RECORD, {"c": day, "e": endpoint, "m": model, "p": prompt, "s": status, "b": batch}
            )
    _alembic(db, "head")
    lines = {(r.model, r.batch, r.inference): r for r in UsageRollups(db).lines()}
    assert set(lines) == {("m", False, True), ("m", True, True), ("", False, False)}
    interactive = lines[("m", False, True)]
    assert (interactive.day, interactive.requests, interactive.errors) == (date(2026, 5, 6), 2, 1)
    assert interactive.prompt_tokens == 30 and interactive.cost == 1.5
    assert lines[("m", True, True)].requests == 1 and lines[("", False, False)].requests == 1
    columns = {c["name"] for c in inspect(db.engine).get_columns("workspaces")}
    assert "request_log_bodies_days" in columns
    _alembic(db, "0004_jobs", down=True)
    tables = set(inspect(db.engine).get_table_names())
    assert "request_log" not in tables and "usage_daily" not in tables
    columns = {c["name"] for c in inspect(db.engine).get_columns("api_keys")}
    assert "request_log_bodies_days" not in columns
    _alembic(db, "head")
