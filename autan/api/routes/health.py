"""``GET /health``: liveness for load balancers and ``autan chat``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from autan.api.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(registry: RegistryDep) -> dict[str, object]:
    """Liveness, with each model's engine counters (slots, running, waiting, tokens)."""
    return {
        "status": "ok",
        "models": [{"id": m.id, **asdict(m.engine.stats())} for m in registry],
    }
