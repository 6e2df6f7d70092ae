"""Fill-in-the-middle completions (Mistral API v1 section 4). Replies are chat completions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FIMCompletionRequest(BaseModel):
    """``POST /v1/fim/completions``: fill what goes between ``prompt`` and ``suffix``."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: str
    suffix: str | None = ""
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=1.5)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stream: bool = False
    stop: str | list[str] | None = None
    random_seed: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
