"""The request log, daily usage rollups, and the settings that keep request bodies.

``request_log`` gets one row per API request. ``usage_daily`` holds the usage ledger summed
by day, workspace, key, model, batch flag and kind (inference or management), filled here from
the records already written. Workspaces and keys gain ``request_log_bodies_days``.

Revision ID: 0005_request_log
Revises: 0004_jobs
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_request_log"
down_revision: str | None = "0004_jobs"
branch_labels: str | None = None
depends_on: str | None = None

# As ``autan.accounts.usage_rollup.INFERENCE_ENDPOINTS`` says at this revision.
_INFERENCE = ("/v1/chat/completions", "/v1/fim/completions", "/v1/embeddings")


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=True),
        sa.Column("key_id", sa.String(36), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=True),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("batch_job_id", sa.String(36), nullable=True),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("nb_messages", sa.Integer, nullable=False),
        sa.Column("request_messages", sa.JSON, nullable=True),
        sa.Column("response_messages", sa.JSON, nullable=True),
        sa.Column("tools", sa.JSON, nullable=True),
        sa.Column("bodies_expire_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_request_log_request_id", "request_log", ["request_id"])
    op.create_index("ix_request_log_created", "request_log", ["created_at"])
    op.create_index(
        "ix_request_log_workspace_created", "request_log", ["workspace_id", "created_at"]
    )
    op.create_index("ix_request_log_bodies_expire_at", "request_log", ["bodies_expire_at"])
    daily = op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("workspace_id", sa.String(36), primary_key=True),
        sa.Column("key_id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(255), primary_key=True),
        sa.Column("batch", sa.Boolean, primary_key=True),
        sa.Column("inference", sa.Boolean, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
    )
    for table in ("workspaces", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("request_log_bodies_days", sa.Integer, nullable=True))
    _backfill(daily)


def _backfill(daily: sa.Table) -> None:
    """Sum the usage records written so far, in Python: SQLite and PostgreSQL disagree on
    what a date is."""
    records = sa.table(
        "usage_records",
        sa.column("created_at", sa.DateTime),
        sa.column("workspace_id", sa.String),
        sa.column("key_id", sa.String),
        sa.column("endpoint", sa.String),
        sa.column("model", sa.String),
        sa.column("prompt_tokens", sa.Integer),
        sa.column("completion_tokens", sa.Integer),
        sa.column("cost", sa.Float),
        sa.column("status", sa.Integer),
        sa.column("batch", sa.Boolean),
    )
    totals: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    rows = op.get_bind().execute(sa.select(records)).yield_per(10_000)
    for r in rows:
        key = (
            r.created_at.date(),
            r.workspace_id,
            r.key_id,
            r.model or "",
            bool(r.batch),
            bool(r.batch) or r.endpoint in _INFERENCE,
        )
        t = totals[key]
        t[0 if r.status < 400 else 1] += 1
        t[2] += r.prompt_tokens or 0
        t[3] += r.completion_tokens or 0
        t[4] += r.cost or 0.0
    if totals:
        names = ("day", "workspace_id", "key_id", "model", "batch", "inference")
        values = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost")
        op.bulk_insert(
            daily,
            [
                {**dict(zip(names, k, strict=True)), **dict(zip(values, v, strict=True))}
                for k, v in totals.items()
            ],
        )


def downgrade() -> None:
    for table in ("api_keys", "workspaces"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_log_bodies_days")
    op.drop_table("usage_daily")
    op.drop_table("request_log")
