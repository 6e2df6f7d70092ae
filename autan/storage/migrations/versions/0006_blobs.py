"""Blobs kept in the database: what uploaded files are stored in on PostgreSQL, so that every
process on the database reads every file. Chunks of at most 1 MiB, in order. And the secrets
every process on the database holds alike (the key that signs file URLs).

Revision ID: 0006_blobs
Revises: 0005_request_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_blobs"
down_revision: str | None = "0005_request_log"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "blob_chunks",
        sa.Column(
            "key",
            sa.String(64),
            sa.ForeignKey("blobs.key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "platform_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("platform_secrets")
    op.drop_table("blob_chunks")
    op.drop_table("blobs")
