"""Fine-tuning: jobs, their events and checkpoints, fine-tuned models.

Revision ID: 0003_fine_tuning
Revises: 0002_files_batch
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_fine_tuning"
down_revision: str | None = "0002_files_batch"
branch_labels: str | None = None
depends_on: str | None = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fine_tuning_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, index=True),
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
    )
    op.create_index(
        "ix_fine_tuning_jobs_workspace_created", "fine_tuning_jobs", ["workspace_id", "created_at"]
    )
    op.create_table(
        "fine_tuning_events",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "fine_tuning_checkpoints",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), nullable=False, index=True),
        sa.Column("step_number", sa.Integer, nullable=False),
        sa.Column("train_loss", sa.Float, nullable=True),
        sa.Column("valid_loss", sa.Float, nullable=True),
        sa.Column("valid_mean_token_accuracy", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "fine_tuned_models",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("workspace_id", sa.String(36), nullable=False, index=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("root", sa.String(255), nullable=False),
        sa.Column("base_path", sa.Text, nullable=False),
        sa.Column("adapter_path", sa.Text, nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "fine_tuned_models",
        "fine_tuning_checkpoints",
        "fine_tuning_events",
        "fine_tuning_jobs",
    ):
        op.drop_table(table)
