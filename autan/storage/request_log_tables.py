"""Rows of the request log and of the daily usage rollups.

The request log holds one row per API request; its bodies (messages, reply, tools) only where
a workspace or key keeps them, until ``bodies_expire_at``. The rollups hold one row per day,
workspace, key, model and kind of traffic, kept with the usage ledger in the same
transaction, so charts over months read a few rows a day rather than every request.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from autan.storage.tables import Base


class RequestLogRow(Base):
    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_workspace_created", "workspace_id", "created_at"),
        Index("ix_request_log_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    workspace_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    endpoint: Mapped[str] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    queue_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    deployment: Mapped[str | None] = mapped_column(String(255), nullable=True)
    nb_messages: Mapped[int] = mapped_column(Integer, default=0)
    request_messages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    response_messages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    tools: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # Set when bodies are kept: past it the retention sweep removes them.
    bodies_expire_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class UsageDailyRow(Base):
    """Totals of one day's usage records with the same workspace, key, model ('' for none),
    batch flag and kind (inference: chat, FIM, embeddings; else a management call)."""

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    batch: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    inference: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
