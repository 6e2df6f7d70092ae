"""Typed dependencies the routers inject."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autan.accounts.accounts import Accounts
from autan.accounts.api_key import ApiKey
from autan.accounts.meter import Meter
from autan.accounts.workspace import LOCAL_KEY, LOCAL_WORKSPACE
from autan.api.request_state import request_context
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.errors import Forbidden
from autan.fim.service import FimService
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.jobs.batch.batch_system import BatchSystem
from autan.models.registry import ModelRegistry
from autan.observability.tracing import child_span
from autan.platform import Platform
from autan.routing.router import Router

bearer = HTTPBearer(auto_error=False)


def platform_of(request: Request) -> Platform:
    """The platform the app was assembled with (``autan.platform``)."""
    platform: Platform = request.app.state.platform
    return platform


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop that
# cost a routed request more than its whole translation.
async def get_platform(request: Request) -> Platform:
    return platform_of(request)


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_registry(platform: PlatformDep) -> ModelRegistry:
    return platform.registry


async def get_chat_service(platform: PlatformDep) -> ChatService:
    return platform.chat


async def get_router(platform: PlatformDep) -> Router:
    return platform.router


async def get_fim_service(platform: PlatformDep) -> FimService:
    return platform.fim


async def get_embedding_service(platform: PlatformDep) -> EmbeddingService | None:
    """None when no embedding model is served (disabled, or its package is not installed)."""
    return platform.embeddings


async def get_batch_system(platform: PlatformDep) -> BatchSystem:
    return platform.batch


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials else None


async def authenticate(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Meter | None:
    """The caller's key, checked and counted against its requests per minute; None when the
    server runs with ``--no-auth``. The meter is left on the request for ``MeteringMiddleware``
    (headers, usage record); the key, its workspace and whether its bodies are kept, on the
    request's context for the request log."""
    accounts = platform.accounts
    context = request_context(request.scope)
    if accounts is None:
        if context is not None:
            context.workspace_id = LOCAL_WORKSPACE
            context.bodies_days = platform.settings.request_log.no_auth_bodies_days
        return None
    secret = _secret(credentials)
    route = request.scope.get("route")

    def check() -> Meter:
        key = accounts.authenticate(secret)
        if context is not None:
            context.key_id, context.workspace_id = key.id, key.workspace_id
            context.bodies_days = key.bodies_days
        meter = accounts.meter(key, getattr(route, "path", request.url.path))
        request.state.meter = meter
        meter.limit_request()
        return meter

    with child_span("autan.auth"):
        # A worker thread: the key is read from the database and counted in Redis, waits
        # that on the event loop would hold every other request of this process.
        return await asyncio.to_thread(check)


async def get_accounts(platform: PlatformDep) -> Accounts:
    if platform.accounts is None:
        raise Forbidden("The admin API needs API keys, and this server runs with --no-auth")
    return platform.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def authenticate_key(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """Any key that works, for the admin API's read-only answers scoped to its workspace;
    401 without one. Read in a worker thread, as ``authenticate`` reads it."""
    return await asyncio.to_thread(accounts.authenticate, _secret(credentials))


async def authenticate_admin(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """An admin key; 401 without a valid key, 403 for a key that is not an admin key."""
    key = await asyncio.to_thread(accounts.authenticate, _secret(credentials))
    if not key.is_admin:
        raise Forbidden("This route needs an admin API key")
    return key


async def get_fine_tuning(platform: PlatformDep) -> FineTuningService:
    if platform.fine_tuning is None:
        raise Forbidden("Fine-tuning is turned off on this server")
    return platform.fine_tuning


def workspace_of(meter: Meter | None) -> str:
    """The caller's workspace; every caller shares one under ``--no-auth``."""
    return meter.key.workspace_id if meter is not None else LOCAL_WORKSPACE


def key_of(meter: Meter | None) -> str | None:
    """The caller's key id, for what only its own key may see; None under ``--no-auth``."""
    return meter.key.id if meter is not None else None


def owner_of(meter: Meter | None) -> str:
    """The key id a new job is recorded under; every caller is one under ``--no-auth``."""
    return meter.key.id if meter is not None else LOCAL_KEY


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
FineTuningDep = Annotated[FineTuningService, Depends(get_fine_tuning)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
FimServiceDep = Annotated[FimService, Depends(get_fim_service)]
EmbeddingServiceDep = Annotated[EmbeddingService | None, Depends(get_embedding_service)]
# The caller's key, as the Meter that admits and bills its request; None under --no-auth.
MeterDep = Annotated[Meter | None, Depends(authenticate)]
RouterDep = Annotated[Router, Depends(get_router)]
BatchSystemDep = Annotated[BatchSystem, Depends(get_batch_system)]
AdminKeyDep = Annotated[ApiKey, Depends(authenticate_admin)]
# Any working key: what it may read of the admin API is its own workspace's.
KeyDep = Annotated[ApiKey, Depends(authenticate_key)]
