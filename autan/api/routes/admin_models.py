"""``/v1/admin/models/{model_id}/load`` and ``/unload``: an admin loads a declared model ahead
of its first request, or frees its memory, on this server (each gateway has its own engines)."""

from __future__ import annotations

from fastapi import APIRouter

from autan.api.deps import AdminKeyDep, RegistryDep
from autan.models.registry import RegisteredModel
from autan.protocol.admin import ModelStatePublic
from autan.protocol.fields import Name

router = APIRouter(tags=["admin"])


def _state(model: RegisteredModel) -> ModelStatePublic:
    return ModelStatePublic(id=model.id, state=model.state, memory_bytes=model.plan.memory_bytes)


@router.post("/v1/admin/models/{model_id}/load", response_model=ModelStatePublic)
async def load_model(
    model_id: Name, registry: RegistryDep, _admin: AdminKeyDep
) -> ModelStatePublic:
    """Load a declared model (by id or alias) now, making room as its first request would by
    unloading the least recently used idle models; answers once it is loaded."""
    return _state(await registry.load(model_id))


@router.post("/v1/admin/models/{model_id}/unload", response_model=ModelStatePublic)
async def unload_model(
    model_id: Name, registry: RegistryDep, _admin: AdminKeyDep
) -> ModelStatePublic:
    """Unload a declared model now; its next request loads it again. 409 while it loads or
    requests hold it."""
    return _state(await registry.unload(model_id))
