"""``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from fastapi import APIRouter

from autan.api.deps import ApiKeyDep, EmbeddingServiceDep, RegistryDep
from autan.embeddings.service import EmbeddingService
from autan.models.registry import DEFAULT_TEMPERATURE, RegisteredModel
from autan.protocol.models import ModelCapabilities, ModelCardPublic, ModelListPublic

router = APIRouter(tags=["models"])


def model_card(model: RegisteredModel) -> ModelCardPublic:
    card = model.card
    return ModelCardPublic(
        id=card.id,
        created=model.created,
        name=card.id,
        description=model.plan.description,
        capabilities=ModelCapabilities(
            **{
                **card.capabilities.model_dump(),
                # A GGUF that declares FIM tokens can serve /v1/fim/completions.
                "completion_fim": card.capabilities.completion_fim or model.plan.fim,
            }
        ),
        max_context_length=model.plan.context,
        aliases=list(card.aliases),
        default_model_temperature=DEFAULT_TEMPERATURE,
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
    """Every declared model, loaded or not, each once, with its aliases on its card."""
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
