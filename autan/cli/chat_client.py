"""Where ``autan chat`` sends its requests: a running server over HTTP, or the models loaded
in this process. Both take a Mistral chat request body and give back its stream chunks as
dicts, so that one renderer serves both."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from autan.errors import AutanError


class ChatClientError(Exception):
    """The server refused or failed one request: the session shows it and goes on."""


@dataclass(frozen=True)
class ModelChoice:
    id: str
    aliases: tuple[str, ...] = ()
    chat: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


class ChatClient(Protocol):
    where: str  # shown in the banner

    async def models(self) -> list[ModelChoice]: ...

    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"the server answered {response.status_code}: {response.text[:300]}"
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, list | dict):
        message = json.dumps(message)
    detail = message or (body.get("detail") if isinstance(body, dict) else None) or body
    hint = ""
    if response.status_code == 401:
        hint = " (pass --api-key or set MISTRAL_API_KEY)"
    return f"{response.status_code}: {detail}{hint}"


class RemoteChatClient:
    """A running autan, or any server that speaks the Mistral API."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.where = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.where,
            headers=headers,
            timeout=httpx.Timeout(connect=10, read=None, write=30, pool=10),
        )

    async def models(self) -> list[ModelChoice]:
        try:
            r = await self._client.get("/v1/models")
        except httpx.TransportError as e:
            raise ChatClientError(
                f"cannot reach {self.where}: {e}. Is `autan serve` running?"
            ) from e
        if r.status_code != 200:
            raise ChatClientError(_error_message(r))
        return [
            ModelChoice(
                card["id"],
                tuple(card.get("aliases") or ()),
                bool((card.get("capabilities") or {}).get("completion_chat", True)),
            )
            for card in r.json()["data"]
        ]

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self._client.stream(
                "POST", "/v1/chat/completions", json={**body, "stream": True}
            ) as r:
                if r.status_code != 200:
                    await r.aread()
                    raise ChatClientError(_error_message(r))
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        yield json.loads(line[6:])
        except httpx.TransportError as e:
            raise ChatClientError(f"lost the server at {self.where}: {e}") from e

    async def aclose(self) -> None:
        await self._client.aclose()


class LocalChatClient:
    """The declared models, loaded in this process when first asked for: no server needed."""

    where = "in this process"

    def __init__(self, registry: Any) -> None:
        from autan.chat.service import ChatService

        self._registry = registry
        self._service = ChatService(registry)

    async def models(self) -> list[ModelChoice]:
        return [
            ModelChoice(m.id, tuple(m.card.aliases), m.card.capabilities.completion_chat)
            for m in self._registry
        ]

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        from pydantic import ValidationError

        from autan.protocol.chat import ChatCompletionRequest

        try:
            req = ChatCompletionRequest.model_validate({**body, "stream": True})
            chunks = await self._service.stream(req)
            async for chunk in chunks:
                yield chunk.model_dump(mode="json")
        except AutanError as e:
            raise ChatClientError(e.message) from e
        except ValidationError as e:
            raise ChatClientError(str(e)) from e

    async def aclose(self) -> None:
        self._registry.close()
