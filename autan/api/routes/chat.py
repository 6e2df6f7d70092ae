"""``POST /v1/chat/completions``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from autan.api.deps import ApiKeyDep, ChatServiceDep
from autan.api.sse import EventStreamResponse
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse

router = APIRouter(tags=["chat"])

T = TypeVar("T")

_DISCONNECT_POLL_S = 0.1


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Await ``work``, cancelling it (and freeing its engine slots) if the client goes away."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                return None
    finally:
        if not task.done():
            task.cancel()


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, chat: ChatServiceDep, _key: ApiKeyDep
) -> Response | ChatCompletionResponse:
    """Chat completion. With ``stream: true`` the reply is a server-sent event stream of
    ``chat.completion.chunk`` objects ending with ``data: [DONE]``."""
    if body.stream:
        return EventStreamResponse(await chat.stream(body))
    result = await _unless_disconnected(request, chat.complete(body))
    if result is None:
        return Response(status_code=499)
    return result
