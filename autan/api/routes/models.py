"""``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from fastapi import APIRouter

from autan.api.deps import ApiKeyDep, EmbeddingServiceDep, RegistryDep
from autan.embeddings.service import EmbeddingService
from autan.models.registry import ServedModel
from autan.protocol.models import ModelCapabilities, ModelCardPublic, ModelListPublic

router = APIRouter(tags=["models"])


def model_card(model: ServedModel) -> ModelCardPublic:
    return ModelCardPublic(
        id=model.id,
        created=model.created,
        name=model.id,
        description=model.description,
        capabilities=ModelCapabilities(completion_chat=True),
        max_context_length=model.max_context_length,
        aliases=model.aliases,
        default_model_temperature=model.default_temperature,
    )


def embedding_model_card(service: EmbeddingService) -> ModelCardPublic:
    # La Plateforme's mistral-embed card has every capability false.
    return ModelCardPublic(
        id=service.id,
        created=service.created,
        name=service.id,
        description=service.model.description,
        capabilities=ModelCapabilities(completion_chat=False),
        max_context_length=service.model.max_tokens,
        aliases=service.aliases,
    )


@router.get("/v1/models", response_model=ModelListPublic)
async def list_models(
    registry: RegistryDep, embeddings: EmbeddingServiceDep, _key: ApiKeyDep
) -> ModelListPublic:
    """Every served model, each once, with its aliases on its card."""
    cards = [model_card(m) for m in registry]
    if embeddings is not None:
        cards.append(embedding_model_card(embeddings))
    return ModelListPublic(data=cards)


@router.get("/v1/models/{model_id}", response_model=ModelCardPublic)
async def retrieve_model(
    model_id: str, registry: RegistryDep, embeddings: EmbeddingServiceDep, _key: ApiKeyDep
) -> ModelCardPublic:
    """One model card, by id or alias."""
    if embeddings is not None and embeddings.serves(model_id):
        return embedding_model_card(embeddings)
    return model_card(registry.resolve(model_id))
