"""``POST /v1/fim/completions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from autan.api.deps import MeterDep, RouterDep
from autan.api.disconnect import unless_disconnected
from autan.api.request_capture import capture_fim, record_response, record_stream
from autan.api.sse import EventStreamResponse
from autan.protocol.chat import ChatCompletionResponse
from autan.protocol.fim import FIMCompletionRequest

router = APIRouter(tags=["fim"])


@router.post(
    "/v1/fim/completions",
    response_model=ChatCompletionResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def fim_completions(
    body: FIMCompletionRequest, request: Request, router: RouterDep, meter: MeterDep
) -> Response | ChatCompletionResponse:
    """Fill-in-the-middle code completion: the model writes what goes between ``prompt`` and
    ``suffix``. The reply is a chat completion; ``stream: true`` streams it as chat chunks."""
    context = capture_fim(request, body)
    if body.stream:
        return EventStreamResponse(record_stream(context, await router.stream_fim(body, meter)))
    result = await unless_disconnected(request, router.complete_fim(body, meter))
    if result is None:
        return Response(status_code=499)
    return record_response(context, result)
