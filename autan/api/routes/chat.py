"""``POST /v1/chat/completions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from autan.api.deps import MeterDep, RouterDep
from autan.api.disconnect import unless_disconnected
from autan.api.request_capture import capture_chat, record_response, record_stream
from autan.api.sse import EventStreamResponse
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse

router = APIRouter(tags=["chat"])


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, router: RouterDep, meter: MeterDep
) -> Response | ChatCompletionResponse:
    """Chat completion. With ``stream: true`` the reply is a server-sent event stream of
    ``chat.completion.chunk`` objects ending with ``data: [DONE]``."""
    context = capture_chat(request, body)
    if body.stream:
        return EventStreamResponse(record_stream(context, await router.stream_chat(body, meter)))
    result = await unless_disconnected(request, router.complete_chat(body, meter))
    if result is None:
        return Response(status_code=499)
    return record_response(context, result)
