"""``GET /health``: the process and its models, for ``autan chat``, ``autan ps`` and load
balancers; ``GET /livez`` and ``GET /readyz``: liveness and readiness for orchestrators."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autan.api.deps import EmbeddingServiceDep, PlatformDep, RegistryDep, RouterDep
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


@router.get("/livez")
async def livez() -> dict[str, str]:
    """Liveness: the process answers. Checks nothing else, so that a database or Redis
    outage does not get every replica restarted; restart on this, route on ``/readyz``."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a check failed; it is named"}})
async def readyz(platform: PlatformDep) -> JSONResponse:
    """Readiness: the database reachable, Redis reachable when configured, the models marked
    ``preload`` loaded. 200 when all pass, else 503; either way ``checks`` gives each check's
    result and ``failing`` names the checks that failed."""
    assert platform.readiness is not None, "Platform.open builds the readiness checks"
    checks = await platform.readiness.check()
    failing = [c.name for c in checks if not c.ok]
    return JSONResponse(
        {
            "status": "not ready" if failing else "ready",
            "checks": {c.name: c.detail for c in checks},
            "failing": failing,
        },
        status_code=503 if failing else 200,
    )
