"""``GET /metrics``: Prometheus metrics in the text exposition format.

Open to whoever reaches the port unless ``AUTAN_METRICS__AUTH=admin`` (then an admin API key
is needed); served on its own port instead when ``AUTAN_METRICS__PORT`` is set (the API port
then answers 404 here). 404 as well when metrics are turned off.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.responses import Response

from autan.api.deps import PlatformDep, bearer
from autan.errors import Forbidden
from autan.observability.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])

METRICS_ONLY = "metrics_only"  # app.state flag of the app serving only /metrics


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    settings = platform.settings.metrics
    on_metrics_app = getattr(request.app.state, METRICS_ONLY, False)
    if platform.metrics is None or (settings.port is not None) != on_metrics_app:
        raise HTTPException(404, "Not Found")
    if settings.auth == "admin":
        if platform.accounts is None:
            raise Forbidden("/metrics needs an admin API key, and this server runs with --no-auth")
        secret = credentials.credentials if credentials else None
        key = await asyncio.to_thread(platform.accounts.authenticate, secret)
        if not key.is_admin:
            raise Forbidden("/metrics needs an admin API key")
    # Reading the engines and counting jobs in the database: off the event loop.
    body = await asyncio.to_thread(platform.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
