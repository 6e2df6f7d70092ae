"""Fine-tuned models whose adapter is kept in the shared blob store (``files.store`` database):
``fine_tuned_models.adapter_blob`` records its blob's key, size and sha256, so every process on
the database fetches, checks and serves it. NULL: the adapter is the file at ``adapter_path``.

Revision ID: 0007_shared_adapters
Revises: 0006_blobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_shared_adapters"
down_revision: str | None = "0006_blobs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.add_column(sa.Column("adapter_blob", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fine_tuned_models") as batch:
        batch.drop_column("adapter_blob")
