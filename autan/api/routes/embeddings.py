"""``POST /v1/embeddings``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from autan.api.deps import MeterDep, PlatformDep, RouterDep
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse

router = APIRouter(tags=["embeddings"])


@router.post("/v1/embeddings", response_model=EmbeddingResponse)
async def create_embeddings(
    body: EmbeddingRequest, router: RouterDep, meter: MeterDep, platform: PlatformDep
) -> Response:
    """Embed one text or a list of texts. ``output_dimension`` keeps the first N components
    (renormalized); ``output_dtype`` quantizes to int8, uint8 or packed bits (binary,
    ubinary); ``encoding_format: base64`` sends each vector as base64 of its little-endian bytes.
    Metered like a completion: the key's models, tokens per minute and its workspace's spend
    limit hold, and the usage record has the model and the input tokens."""
    result = await router.embed(body, meter)
    if platform.metrics is not None:
        platform.metrics.gateway.record_embeddings(
            body.model, len(result.data), result.usage.prompt_tokens
        )
    # pydantic's own JSON writer: the standard json module (what a returned model would go
    # through) takes ~45 ms to print the floats of 64 vectors, pydantic ~5 ms.
    return Response(result.model_dump_json(), media_type="application/json")
