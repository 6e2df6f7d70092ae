"""Server-sent events as the Mistral SDK reads them: one JSON object per ``data:``, then [DONE].

A stream whose source fails after its first chunk (a routed upstream that dies) has already
sent its final chunk; it then carries the error as an ``event: error`` in the Mistral
envelope, and still ends with ``[DONE]``, so no client waits for more.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from autan.errors import AutanError
from autan.protocol.errors import error_body


async def _events(chunks: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield b"data: " + chunk.model_dump_json().encode() + b"\n\n"
    except AutanError as e:
        body = error_body(e.message, e.type, param=e.param, code=e.code)  # type: ignore[arg-type]
        yield b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


class EventStreamResponse(StreamingResponse):
    def __init__(self, chunks: AsyncIterator[BaseModel]) -> None:
        super().__init__(
            _events(chunks),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
