"""Workspaces gain requests and tokens per minute: limits shared by all of a workspace's keys,
on top of each key's own.

Revision ID: 0008_workspace_rate_limits
Revises: 0007_shared_adapters
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_workspace_rate_limits"
down_revision: str | None = "0007_shared_adapters"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("requests_per_minute", sa.Integer, nullable=True))
        batch.add_column(sa.Column("tokens_per_minute", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("tokens_per_minute")
        batch.drop_column("requests_per_minute")
