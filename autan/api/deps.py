"""Typed dependencies the routers inject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autan.accounts.accounts import Accounts
from autan.accounts.api_key import ApiKey
from autan.accounts.meter import Meter
from autan.accounts.workspace import LOCAL_KEY, LOCAL_WORKSPACE
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.errors import Forbidden
from autan.fim.service import FimService
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.jobs.batch.batch_system import BatchSystem
from autan.models.registry import ModelRegistry

_bearer = HTTPBearer(auto_error=False)


def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def get_chat_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def get_fim_service(request: Request) -> FimService:
    service: FimService = request.app.state.fim
    return service


def get_embedding_service(request: Request) -> EmbeddingService | None:
    """None when no embedding model is served (disabled, or its package is not installed)."""
    service: EmbeddingService | None = getattr(request.app.state, "embeddings", None)
    return service


def get_batch_system(request: Request) -> BatchSystem:
    """Files and batch jobs; 403 on an app built without them."""
    system: BatchSystem | None = getattr(request.app.state, "batch", None)
    if system is None:
        raise Forbidden("Files and batch jobs are turned off on this server")
    return system


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials else None


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Meter | None:
    """The caller's key, checked and counted against its requests per minute; None when the
    server runs with ``--no-auth``. The meter is left on the request for ``MeteringMiddleware``
    (headers, usage record)."""
    accounts: Accounts | None = request.app.state.accounts
    if accounts is None:
        return None
    key = accounts.authenticate(_secret(credentials))
    route = request.scope.get("route")
    meter = accounts.meter(key, getattr(route, "path", request.url.path))
    request.state.meter = meter
    meter.limit_request()
    return meter


def get_accounts(request: Request) -> Accounts:
    accounts: Accounts | None = request.app.state.accounts
    if accounts is None:
        raise Forbidden("The admin API needs API keys, and this server runs with --no-auth")
    return accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def authenticate_admin(
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """An admin key; 401 without a valid key, 403 for a key that is not an admin key."""
    key = accounts.authenticate(_secret(credentials))
    if not key.is_admin:
        raise Forbidden("This route needs an admin API key")
    return key


def get_fine_tuning(request: Request) -> FineTuningService:
    service: FineTuningService | None = getattr(request.app.state, "fine_tuning", None)
    if service is None:
        raise Forbidden("Fine-tuning is turned off on this server")
    return service


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
ApiKeyDep = Annotated[Meter | None, Depends(authenticate)]
BatchSystemDep = Annotated[BatchSystem, Depends(get_batch_system)]
AdminKeyDep = Annotated[ApiKey, Depends(authenticate_admin)]
