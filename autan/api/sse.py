"""Server-sent events as the Mistral SDK reads them: one JSON object per ``data:``, then [DONE]."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel
from starlette.responses import StreamingResponse


async def _events(chunks: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield b"data: " + chunk.model_dump_json().encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


class EventStreamResponse(StreamingResponse):
    def __init__(self, chunks: AsyncIterator[BaseModel]) -> None:
        super().__init__(
            _events(chunks),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
