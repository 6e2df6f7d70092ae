"""Fine-tuning rows: the events and checkpoints of fine-tuning jobs (the jobs themselves are
rows of ``jobs``, of the kind ``fine_tuning``), and the models they made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from autan.storage.tables import Base, _BigId, utcnow


class FineTuningEventRow(Base):
    """Something that happened to a job: a status change, a resume, training started."""

    __tablename__ = "fine_tuning_events"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FineTuningCheckpointRow(Base):
    __tablename__ = "fine_tuning_checkpoints"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    step_number: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_mean_token_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FineTunedModelRow(Base):
    __tablename__ = "fine_tuned_models"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    job_id: Mapped[str] = mapped_column(String(36))
    root: Mapped[str] = mapped_column(String(255))
    base_path: Mapped[str] = mapped_column(Text)  # the base GGUF the adapter was trained on
    adapter_path: Mapped[str] = mapped_column(Text)
    # {"key", "size", "sha256"} of the adapter in the shared blob store; None: only on disk.
    adapter_blob: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
