"""Embeddings: request and response schemas (Mistral API v1 section 5)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from autan.protocol.chat import UsageInfo
from autan.protocol.public import PublicModel

EmbeddingDtype = Literal["float", "int8", "uint8", "binary", "ubinary"]
EncodingFormat = Literal["float", "base64"]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``. Unknown fields give 422 as on La Plateforme; the OpenAI
    spellings (``dimensions``, ``user``) are accepted so the ``openai`` SDK works unchanged."""

    model_config = ConfigDict(extra="forbid")

    model: str
    input: str | list[str]
    output_dimension: int | None = Field(
        default=None, gt=0, validation_alias=AliasChoices("output_dimension", "dimensions")
    )
    output_dtype: EmbeddingDtype = "float"
    encoding_format: EncodingFormat = "float"
    metadata: dict[str, Any] | None = None
    user: str | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class EmbeddingResponseData(PublicModel):
    object: Literal["embedding"] = "embedding"
    # Integers for the integer dtypes (packed bytes for binary/ubinary), a base64 string of the
    # little-endian array for encoding_format "base64", floats otherwise.
    embedding: list[int] | list[float] | str
    index: int


class EmbeddingResponse(PublicModel):
    id: str
    object: Literal["list"] = "list"
    model: str
    usage: UsageInfo
    data: list[EmbeddingResponseData]
