"""Model cards: ``GET /v1/models`` and ``GET /v1/models/{id}`` (Mistral API v1 section 6)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from autan.protocol.public import Nullable, PublicModel


class ModelCapabilities(PublicModel):
    completion_chat: bool = True
    completion_fim: bool = False
    function_calling: bool = False
    fine_tuning: bool = False
    vision: bool = False
    classification: bool = False
    reasoning: bool = False


class ModelCardPublic(PublicModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "autan"
    name: Nullable[str] = None
    description: Nullable[str] = None
    capabilities: ModelCapabilities
    max_context_length: int
    aliases: list[str] = Field(default_factory=list)
    deprecation: Nullable[str] = None
    default_model_temperature: Nullable[float] = None
    type: Literal["base"] = "base"


class FineTunedModelCardPublic(PublicModel):
    """``FTModelCard``: a model a fine-tuning job made; ``root`` is its base model."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "autan"
    name: Nullable[str] = None
    description: Nullable[str] = None
    capabilities: ModelCapabilities
    max_context_length: int
    aliases: list[str] = Field(default_factory=list)
    deprecation: Nullable[str] = None
    default_model_temperature: Nullable[float] = None
    type: Literal["fine-tuned"] = "fine-tuned"
    job: str
    root: str
    archived: bool = False


class ModelListPublic(PublicModel):
    object: Literal["list"] = "list"
    data: list[ModelCardPublic | FineTunedModelCardPublic]


class ModelDeletedPublic(PublicModel):
    id: str
    object: Literal["model"] = "model"
    deleted: bool = True
