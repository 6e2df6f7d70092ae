"""``GET /health``: liveness for load balancers and ``autan chat``."""

from __future__ import annotations

from fastapi import APIRouter

from autan.api.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(registry: RegistryDep) -> dict[str, object]:
    return {"status": "ok", "models": [m.id for m in registry]}
