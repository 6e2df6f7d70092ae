"""``GET /health``: liveness for load balancers and ``autan chat``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from autan.api.deps import EmbeddingServiceDep, RegistryDep, RouterDep
from autan.models.registry import RegisteredModel

router = APIRouter(tags=["health"])


def _model_health(model: RegisteredModel) -> dict[str, object]:
    out: dict[str, object] = {
        "id": model.id,
        "state": model.state,
        "memory_bytes": model.plan.memory_bytes,
        "context": model.plan.context,
        "requests": model.users,
        "loads": model.loads,
        "unloads": model.unloads,
    }
    if model.served is not None:
        out.update(asdict(model.served.engine.stats()))
    return out


@router.get("/health")
async def health(
    registry: RegistryDep, router: RouterDep, embeddings: EmbeddingServiceDep
) -> dict[str, object]:
    """Liveness, the memory budget, and each declared model's state (``loaded``, ``loading``
    or ``unloaded``) and context with its engine counters (slots, running, waiting, tokens)
    while loaded; each routed deployment's state (``healthy``, ``cooling``, ``probing``), load
    and last error; the embedding model (null when none is served)."""
    return {
        "status": "ok",
        "loaded_memory_bytes": registry.loaded_bytes,
        "max_loaded_memory_bytes": registry.max_loaded_memory,
        "models": [_model_health(m) for m in registry],
        "deployments": router.deployments(),
        "embeddings": (
            {"id": embeddings.id, "aliases": embeddings.aliases} if embeddings is not None else None
        ),
    }
