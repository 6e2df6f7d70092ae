"""Rows of the blobs kept in the database itself, where every process on it can read them,
and of the secrets every process on it must hold alike.

A blob is one ``blobs`` row, written in the same transaction as its ``blob_chunks``: a blob
whose writer died never appears, and its chunks go with the rolled-back transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from autan.storage.tables import Base


class BlobRow(Base):
    __tablename__ = "blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class BlobChunkRow(Base):
    __tablename__ = "blob_chunks"

    key: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0, 1, ... in order
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PlatformSecretRow(Base):
    """A secret made once for every process on the database (``url_signing_key``)."""

    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
