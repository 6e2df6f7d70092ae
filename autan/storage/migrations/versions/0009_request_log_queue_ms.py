"""The request log records how long a request's sequences waited for an engine slot.

Revision ID: 0009_request_log_queue_ms
Revises: 0008_workspace_rate_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_request_log_queue_ms"
down_revision: str | None = "0008_workspace_rate_limits"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.add_column(sa.Column("queue_ms", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_log") as batch:
        batch.drop_column("queue_ms")
