"""``autan chat``: an interactive terminal chat that streams tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

import httpx
import typer

from autan.cli.options import ModelOpt, ThreadsOpt, build_settings


class _ChatBackend(Protocol):
    def stream(self, messages: list[dict[str, Any]]) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class _RemoteChat:
    """A running autan (or any Mistral-compatible server) over HTTP."""

    def __init__(self, url: str, model: str, api_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=None)
        self._model = model

    async def stream(self, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        body = {"model": self._model, "messages": messages, "stream": True}
        async with self._client.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                await r.aread()
                raise typer.BadParameter(f"server answered {r.status_code}: {r.text}")
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for choice in json.loads(line[6:])["choices"]:
                    if choice["delta"].get("content"):
                        yield choice["delta"]["content"]

    async def aclose(self) -> None:
        await self._client.aclose()


class _LocalChat:
    """The packaged (or given) model loaded in this process: no server needed."""

    def __init__(self, registry: Any, model: str) -> None:
        from autan.chat.service import ChatService

        self._registry = registry
        self._service = ChatService(registry)
        self._model = model

    async def stream(self, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        from autan.protocol.chat import ChatCompletionRequest

        req = ChatCompletionRequest.model_validate(
            {"model": self._model, "messages": messages, "stream": True}
        )
        async for chunk in await self._service.stream(req):
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content

    async def aclose(self) -> None:
        self._registry.close()


async def _repl(backend: _ChatBackend, system: str | None) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except EOFError:
                break
            if line.strip() in ("/exit", "/quit"):
                break
            if not line.strip():
                continue
            messages.append({"role": "user", "content": line})
            reply = ""
            async for delta in backend.stream(messages):
                typer.echo(delta, nl=False)
                reply += delta
            typer.echo()
            messages.append({"role": "assistant", "content": reply})
    finally:
        await backend.aclose()


def chat(
    url: Annotated[
        str | None,
        typer.Option(help="A running server, e.g. http://127.0.0.1:8000. Default: in-process."),
    ] = None,
    model_name: Annotated[str, typer.Option("--model-name", help="Model id or alias.")] = (
        "smollm2-135m-instruct"
    ),
    api_key: Annotated[str | None, typer.Option(envvar="MISTRAL_API_KEY")] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Chat in the terminal; replies stream as they are generated. /exit or Ctrl-D quits."""
    backend: _ChatBackend
    if url:
        backend = _RemoteChat(url, model_name, api_key)
    else:
        from autan.models.loader import load_registry

        settings = build_settings(model=model, threads=threads, parallel=1)
        backend = _LocalChat(load_registry(settings), model_name)
    asyncio.run(_repl(backend, system))
