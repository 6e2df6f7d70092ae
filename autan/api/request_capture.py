"""What a completion route tells the request log: the model asked for, how the reply ended,
its usage, and (only where the key or workspace keeps them) the messages and the reply.

Streams are read as they pass: a finish reason and the usage are noted from the chunks that
carry them; reply text is gathered only when bodies are kept. Bodies are kept as the wire
objects they are: the request log's writer thread turns them into JSON, off the request path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request

from autan.api.request_state import request_context
from autan.observability.request_context import RequestContext
from autan.protocol.chat import (
    AssistantMessagePublic,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChunk,
    ToolCallPublic,
    UsageInfo,
)
from autan.protocol.fim import FIMCompletionRequest


def capture_chat(request: Request, body: ChatCompletionRequest) -> RequestContext | None:
    context = request_context(request.scope)
    if context is None:
        return None
    context.model, context.stream = body.model, body.stream
    context.nb_messages = len(body.messages)
    if context.keeps_bodies:  # dumped to JSON by the request log's writer thread
        context.request_messages = list(body.messages)
        context.tools = list(body.tools or ())
    return context


def capture_fim(request: Request, body: FIMCompletionRequest) -> RequestContext | None:
    context = request_context(request.scope)
    if context is None:
        return None
    context.model, context.stream, context.nb_messages = body.model, body.stream, 1
    if context.keeps_bodies:
        context.request_messages = [
            {"role": "user", "content": body.prompt, "suffix": body.suffix or ""}
        ]
    return context


def _usage(context: RequestContext, usage: UsageInfo | None) -> None:
    if usage is not None:
        context.prompt_tokens = usage.prompt_tokens
        context.completion_tokens = usage.completion_tokens or 0


def record_response(
    context: RequestContext | None, response: ChatCompletionResponse
) -> ChatCompletionResponse:
    if context is None:
        return response
    if response.choices:
        context.finish_reason = response.choices[0].finish_reason
    _usage(context, response.usage)
    if context.keeps_bodies:
        context.response_messages = [c.message for c in response.choices]
    return response


async def record_stream(
    context: RequestContext | None, chunks: AsyncIterator[CompletionChunk]
) -> AsyncIterator[CompletionChunk]:
    if context is None:
        async for chunk in chunks:
            yield chunk
        return
    texts: dict[int, list[str]] = {}
    calls: dict[int, list[ToolCallPublic]] = {}
    keep = context.keeps_bodies
    try:
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    context.finish_reason = choice.finish_reason
                if keep:
                    delta = choice.delta
                    texts.setdefault(choice.index, []).append(delta.content or "")
                    calls.setdefault(choice.index, []).extend(delta.tool_calls or ())
            if chunk.usage is not None:
                _usage(context, chunk.usage)
            yield chunk
    finally:
        if keep:
            context.response_messages = [
                _message(texts[i], calls.get(i, [])) for i in sorted(texts)
            ]


def _message(parts: list[str], calls: list[ToolCallPublic]) -> AssistantMessagePublic:
    return AssistantMessagePublic(content="".join(parts), tool_calls=calls or None)
