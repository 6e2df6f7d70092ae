"""Fine-tuning jobs become jobs of the kind ``fine_tuning`` in the one ``jobs`` table.

``jobs`` gains ``start_requested`` (a validated fine-tuning job waits for /start) and
``modified_at``, and its ``key_id`` may be empty (jobs made without API keys). Each row of
``fine_tuning_jobs`` moves into ``jobs``: its request into ``spec``, what it made into
``result``; its events and checkpoints keep their job ids. The downgrade moves them back.

Revision ID: 0004_jobs
Revises: 0003_fine_tuning
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision: str | None = "0003_fine_tuning"
branch_labels: str | None = None
depends_on: str | None = None

KIND = "fine_tuning"


def _ft_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("auto_start", sa.Boolean, nullable=False),
        sa.Column("start_requested", sa.Boolean, nullable=False),
        sa.Column("hyperparameters", sa.JSON, nullable=False),
        sa.Column("training_files", sa.JSON, nullable=False),
        sa.Column("validation_files", sa.JSON, nullable=False),
        sa.Column("suffix", sa.String(32), nullable=True),
        sa.Column("fine_tuned_model", sa.String(255), nullable=True),
        sa.Column("trained_tokens", sa.Integer, nullable=True),
        sa.Column("job_metadata", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("modified_at", sa.DateTime, nullable=False),
    ]


def _fine_tuning_jobs(*, create: bool) -> sa.TableClause:
    columns = _ft_columns()
    if create:
        return op.create_table("fine_tuning_jobs", *columns)
    return sa.table("fine_tuning_jobs", *columns)


def _jobs() -> sa.TableClause:
    return sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("workspace_id", sa.String),
        sa.column("key_id", sa.String),
        sa.column("status", sa.String),
        sa.column("start_requested", sa.Boolean),
        sa.column("model", sa.String),
        sa.column("metadata", sa.JSON),
        sa.column("spec", sa.JSON),
        sa.column("result", sa.JSON),
        sa.column("total_items", sa.Integer),
        sa.column("succeeded_items", sa.Integer),
        sa.column("failed_items", sa.Integer),
        sa.column("lease_owner", sa.String),
        sa.column("lease_expires_at", sa.DateTime),
        sa.column("attempts", sa.Integer),
        sa.column("created_at", sa.DateTime),
        sa.column("modified_at", sa.DateTime),
        sa.column("started_at", sa.DateTime),
        sa.column("completed_at", sa.DateTime),
        sa.column("deadline", sa.DateTime),
        sa.column("deleted", sa.Boolean),
    )


_ENDED = ("SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("key_id", existing_type=sa.String(36), nullable=True)
        batch.add_column(
            sa.Column("start_requested", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("modified_at", sa.DateTime, nullable=True))
    old, jobs = _fine_tuning_jobs(create=False), _jobs()
    conn = op.get_bind()
    rows: list[dict[str, Any]] = []
    for r in conn.execute(sa.select(old)).mappings():
        result = {
            k: r[k] for k in ("fine_tuned_model", "trained_tokens", "error") if r[k] is not None
        }
        rows.append(
            {
                "id": r["id"],
                "kind": KIND,
                "workspace_id": r["workspace_id"],
                "key_id": None,
                "status": r["status"],
                "start_requested": r["start_requested"],
                "model": r["model"],
                "metadata": r["job_metadata"],
                "spec": {
                    "hyperparameters": r["hyperparameters"],
                    "training_files": r["training_files"],
                    "validation_files": r["validation_files"],
                    "suffix": r["suffix"],
                    "auto_start": r["auto_start"],
                },
                "result": result,
                "total_items": 0,
                "succeeded_items": 0,
                "failed_items": 0,
                "lease_owner": r["lease_owner"],
                "lease_expires_at": r["lease_expires_at"],
                "attempts": 0,
                "created_at": r["created_at"],
                "modified_at": r["modified_at"],
                "started_at": None,
                "completed_at": r["modified_at"] if r["status"] in _ENDED else None,
                "deadline": None,
                "deleted": False,
            }
        )
    if rows:
        conn.execute(sa.insert(jobs), rows)
    op.drop_table("fine_tuning_jobs")


def downgrade() -> None:
    old, jobs = _fine_tuning_jobs(create=True), _jobs()
    op.create_index(
        "ix_fine_tuning_jobs_workspace_created", "fine_tuning_jobs", ["workspace_id", "created_at"]
    )
    op.create_index("ix_fine_tuning_jobs_status", "fine_tuning_jobs", ["status"])
    conn = op.get_bind()
    rows: list[dict[str, Any]] = []
    for r in conn.execute(sa.select(jobs).where(jobs.c.kind == KIND)).mappings():
        spec, result = r["spec"] or {}, r["result"] or {}
        rows.append(
            {
                "id": r["id"],
                "workspace_id": r["workspace_id"],
                "model": r["model"] or "",
                "status": r["status"],
                "auto_start": bool(spec.get("auto_start")),
                "start_requested": r["start_requested"],
                "hyperparameters": spec.get("hyperparameters") or {},
                "training_files": spec.get("training_files") or [],
                "validation_files": spec.get("validation_files") or [],
                "suffix": spec.get("suffix"),
                "fine_tuned_model": result.get("fine_tuned_model"),
                "trained_tokens": result.get("trained_tokens"),
                "job_metadata": r["metadata"],
                "error": result.get("error"),
                "lease_owner": r["lease_owner"],
                "lease_expires_at": r["lease_expires_at"],
                "created_at": r["created_at"],
                "modified_at": r["modified_at"] or r["created_at"],
            }
        )
    if rows:
        conn.execute(sa.insert(old), rows)
    conn.execute(sa.delete(jobs).where(jobs.c.kind == KIND))
    conn.execute(sa.update(jobs).where(jobs.c.key_id.is_(None)).values(key_id=""))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("modified_at")
        batch.drop_column("start_requested")
        batch.alter_column("key_id", existing_type=sa.String(36), nullable=False)
