"""``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from fastapi import APIRouter

from autan.api.deps import ApiKeyDep, RegistryDep
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
        capabilities=ModelCapabilities(**card.capabilities.model_dump()),
        max_context_length=model.plan.context,
        aliases=list(card.aliases),
        default_model_temperature=DEFAULT_TEMPERATURE,
    )


@router.get("/v1/models", response_model=ModelListPublic)
async def list_models(registry: RegistryDep, _key: ApiKeyDep) -> ModelListPublic:
    """Every declared model, loaded or not, each once, with its aliases on its card."""
    return ModelListPublic(data=[model_card(m) for m in registry])


@router.get("/v1/models/{model_id}", response_model=ModelCardPublic)
async def retrieve_model(model_id: str, registry: RegistryDep, _key: ApiKeyDep) -> ModelCardPublic:
    """One model card, by id or alias."""
    return model_card(registry.resolve(model_id))
