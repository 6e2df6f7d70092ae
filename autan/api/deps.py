"""Typed dependencies the routers inject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.fim.service import FimService
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


async def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """Where API keys plug in. Any bearer token, or none, is accepted until keys exist."""
    return credentials.credentials if credentials else None


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
FimServiceDep = Annotated[FimService, Depends(get_fim_service)]
EmbeddingServiceDep = Annotated[EmbeddingService | None, Depends(get_embedding_service)]
ApiKeyDep = Annotated[str | None, Depends(authenticate)]
