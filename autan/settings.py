"""One typed settings object, read from the environment (prefix ``AUTAN_``) and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_ALIASES = ("mistral-small-latest", "mistral-large-latest", "open-mistral-7b")


class EngineSettings(BaseModel):
    """How one model is run: slots, context, threads, batching."""

    parallel: int = Field(default=8, ge=1, le=256, description="sequences decoded together")
    context_per_sequence: int = Field(
        default=4096, ge=64, description="KV cells each slot owns (prompt + output)"
    )
    batch_tokens: int = Field(default=512, ge=16, description="tokens per llama_decode call")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    max_waiting: int = Field(default=256, ge=0, description="queued requests before 503")
    prefix_cache: bool = Field(
        default=True, description="reuse the KV of a prompt prefix an earlier request decoded"
    )


class ModelSettings(BaseModel):
    """Which model is served, and under which names."""

    path: Path | None = Field(default=None, description="GGUF file; the packaged model if unset")
    id: str = DEFAULT_MODEL_ID
    aliases: list[str] = Field(default_factory=lambda: list(DEFAULT_ALIASES))


class Settings(BaseSettings):
    """Everything autan reads at start; validated once, handed down by section."""

    model_config = SettingsConfigDict(
        env_prefix="AUTAN_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: LogLevel = "info"
    engine: EngineSettings = Field(default_factory=EngineSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)

    @model_validator(mode="after")
    def _check_model_names(self) -> Settings:
        if self.model.id in self.model.aliases:
            raise ValueError(f"alias {self.model.id!r} repeats the model id")
        return self
