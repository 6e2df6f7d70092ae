"""``GET /v1/models``, ``GET /v1/models/{model_id}`` and ``DELETE /v1/models/{model_id}``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from autan.api.deps import (
    EmbeddingServiceDep,
    FineTuningDep,
    MeterDep,
    PlatformDep,
    RegistryDep,
    workspace_of,
)
from autan.embeddings.service import EmbeddingService
from autan.errors import UnknownModel
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.models.registry import DEFAULT_TEMPERATURE, RegisteredModel
from autan.protocol.fields import Identifier
from autan.protocol.models import (
    FineTunedModelCardPublic,
    ModelCapabilities,
    ModelCardPublic,
    ModelDeletedPublic,
    ModelListPublic,
)
from autan.routing.router import Route

router = APIRouter(tags=["models"])

# What a routed model's card says when no deployment declares its context length.
ROUTED_CONTEXT = 32768


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


def any_model_card(
    model: RegisteredModel, fine_tuning: FineTuningService | None, workspace: str
) -> ModelCardPublic | FineTunedModelCardPublic | None:
    """The model's card; a fine-tuned model's only for its own workspace (None for others)."""
    card = model_card(model)
    ft = fine_tuning.fine_tuned(model.id) if fine_tuning is not None else None
    if ft is None:
        return card
    if ft.workspace_id != workspace:
        return None
    fields = card.model_dump(exclude={"type"})
    fields.update(name=ft.name or ft.id, description=ft.description or card.description)
    return FineTunedModelCardPublic(**fields, job=ft.job_id, root=ft.root, archived=ft.archived)


def routed_model_card(route: Route) -> ModelCardPublic:
    """A routed model's card: what its deployments can all do, the context they all fit."""
    card = route.card
    assert card is not None, "routed models come from cards"
    contexts = [b.context_length for b in route.backends if b.context_length]
    capabilities = {
        name: all(getattr(b.capabilities, name) for b in route.backends)
        for name in card.capabilities.model_dump()
    }
    return ModelCardPublic(
        id=card.id,
        created=route.created,
        name=card.id,
        description=card.description,
        capabilities=ModelCapabilities(**capabilities),
        max_context_length=max(contexts) if contexts else ROUTED_CONTEXT,
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
    platform: PlatformDep, registry: RegistryDep, embeddings: EmbeddingServiceDep, key: MeterDep
) -> ModelListPublic:
    """Every declared model, loaded or not, each once, with its aliases on its card; the
    workspace's fine-tuned models with ``type: fine-tuned``."""
    fine_tuning, workspace = platform.fine_tuning, workspace_of(key)
    models = list(registry)

    def registered() -> list[ModelCardPublic | FineTunedModelCardPublic]:
        found = (any_model_card(m, fine_tuning, workspace) for m in models)
        return [c for c in found if c]

    # Which are fine-tuned, and whose, is read from the database: on the thread pool.
    cards = await run_in_threadpool(registered)
    cards += [routed_model_card(r) for r in platform.router.routed()]
    if embeddings is not None:
        cards.append(embedding_model_card(embeddings))
    return ModelListPublic(data=cards)


@router.get("/v1/models/{model_id}", response_model=ModelCardPublic | FineTunedModelCardPublic)
async def retrieve_model(
    platform: PlatformDep,
    model_id: Identifier,
    registry: RegistryDep,
    embeddings: EmbeddingServiceDep,
    key: MeterDep,
) -> ModelCardPublic | FineTunedModelCardPublic:
    """One model card, by id or alias."""
    if embeddings is not None and embeddings.serves(model_id):
        return embedding_model_card(embeddings)
    route = platform.router.route(model_id)
    if route.card is not None and route.card.routed:
        return routed_model_card(route)
    card = await run_in_threadpool(
        any_model_card, registry.resolve(model_id), platform.fine_tuning, workspace_of(key)
    )
    if card is None:
        raise UnknownModel(model_id)
    return card


@router.delete("/v1/models/{model_id}", response_model=ModelDeletedPublic)
async def delete_model(
    model_id: Identifier, fine_tuning: FineTuningDep, key: MeterDep
) -> ModelDeletedPublic:
    """Delete a fine-tuned model (its adapter too); base models answer 403."""
    await fine_tuning.delete_model(workspace_of(key), model_id)
    return ModelDeletedPublic(id=model_id)
