"""Rows of uploaded files, durable jobs and the lines of batch jobs.

Kept apart from ``tables.py`` (accounts) so each feature owns its rows; they share ``Base``, so
one metadata describes the whole schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.storage.tables import Base, utcnow


class FileRow(Base):
    """An uploaded or generated file; its bytes live in the blob store under ``blob_key``."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(16))
    sample_type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    mimetype: Mapped[str | None] = mapped_column(String(128), nullable=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    num_lines: Mapped[int | None] = mapped_column(Integer, nullable=True)
    visibility: Mapped[str] = mapped_column(String(16), default="workspace")
    blob_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class JobRow(Base):
    """A durable job of some ``kind`` (``batch``, ``fine_tuning``): its state, who holds it,
    and its kind's own fields.

    A worker owns a job while ``lease_expires_at`` is in the future and renews it as it goes;
    a job whose lease ran out is free for any worker to take over.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_workspace_created", "workspace_id", "created_at"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[str] = mapped_column(String(36))
    # The key that made it, whose rights it runs with; None without API keys (--no-auth).
    key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    # False while a job waits for /start once VALIDATED (a fine-tuning job without auto_start).
    start_requested: Mapped[bool] = mapped_column(Boolean, default=True)
    model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    # What the kind needs to run the job (a batch: endpoint, input files; a fine-tuning job:
    # files, hyperparameters, suffix, auto_start).
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the kind reports back (a batch: output and error files, errors; a fine-tuning job:
    # fine_tuned_model, trained_tokens, error).
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total_items: Mapped[int] = mapped_column(Integer, default=0)
    succeeded_items: Mapped[int] = mapped_column(Integer, default=0)
    failed_items: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class BatchLineRow(Base):
    """One request of a batch job, and once answered, its answer: the per-line checkpoint.

    ``response`` is written in the same transaction as the line's usage record, so a line is
    answered, and billed, exactly once whatever happens to the process.
    """

    __tablename__ = "batch_lines"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-based, input order
    custom_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A line rejected before running (bad JSON, no body): why; it is never run.
    invalid: Mapped[str | None] = mapped_column(Text, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
