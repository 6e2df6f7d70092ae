"""An OpenAI- and Mistral-speaking upstream served over real HTTP from a thread, whose next
replies a test scripts: a status with ``Retry-After``, a delay, a stream that dies, a reply
that breaks its schema. It records what it was sent."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Script:
    """What the next replies do; ``status`` and the others apply to ``count`` requests."""

    status: int = 200
    retry_after: int | None = None
    count: int = 0
    delay: float = 0.0
    token_delay: float = 0.0
    die_after: int | None = None  # chunks sent before the connection drops
    content: str = "Hello from upstream"
    arguments: str = '{"city": "Paris"}'  # of the tool call, when tools are sent


@dataclass
class Upstream:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    script: Script = field(default_factory=Script)
    up: bool = True
    in_flight: int = 0
    most_in_flight: int = 0

    def fail(self, status: int, count: int = 1_000_000, retry_after: int | None = None) -> None:
        self.script = Script(status=status, count=count, retry_after=retry_after)


def _chunks(body: dict[str, Any], script: Script) -> list[dict[str, Any]]:
    base = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
    tools = body.get("tools")
    out: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    if tools:
        name = tools[0]["function"]["name"]
        half = len(script.arguments) // 2
        for i, part in enumerate((script.arguments[:half], script.arguments[half:])):
            call: dict[str, Any] = {"index": 0, "function": {"arguments": part}}
            if i == 0:
                call.update(id="call_abcdefghijklmnop", type="function")
                call["function"]["name"] = name
            out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        finish = "tool_calls"
    else:
        for word in script.content.split(" "):
            out.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]})
        finish = "stop"
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    out.append({**base, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    return out


def _app(upstream: Upstream) -> FastAPI:
    app = FastAPI()

    def scripted() -> Script | Response:
        script = upstream.script
        if script.count > 0:
            script.count -= 1
            if script.status != 200:
                headers = {"Retry-After": str(script.retry_after)} if script.retry_after else {}
                body = {"error": {"message": f"scripted {script.status}", "type": "x"}}
                return JSONResponse(body, status_code=script.status, headers=headers)
        return script

    @app.get("/v1/models")
    async def models() -> Response:
        if not upstream.up:
            return JSONResponse({"error": {"message": "down"}}, status_code=503)
        return JSONResponse({"object": "list", "data": [{"id": "up", "object": "model"}]})

    @app.post("/v1/chat/completions")
    @app.post("/v1/completions")
    @app.post("/v1/fim/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        upstream.requests.append(body)
        upstream.headers.append(dict(request.headers))
        script = scripted()
        if isinstance(script, Response):
            return script
        if script.delay:
            await asyncio.sleep(script.delay)
        chunks = _chunks(body, script)
        if request.url.path == "/v1/completions":
            for c in chunks:
                for choice in c["choices"]:
                    choice["text"] = choice.pop("delta", {}).get("content") or ""

        upstream.in_flight += 1
        upstream.most_in_flight = max(upstream.most_in_flight, upstream.in_flight)

        async def events() -> AsyncIterator[bytes]:
            try:
                for i, chunk in enumerate(chunks):
                    if script.die_after is not None and i >= script.die_after:
                        raise ConnectionResetError("scripted death")
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                    await asyncio.sleep(script.token_delay)
                yield b"data: [DONE]\n\n"
            finally:
                upstream.in_flight -= 1

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        upstream.requests.append(body)
        script = scripted()
        if isinstance(script, Response):
            return script
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        return JSONResponse(
            {
                "id": "e1",
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.5, float(i)]}
                    for i in range(len(texts))
                ],
                "usage": {"prompt_tokens": 4 * len(texts), "total_tokens": 4 * len(texts)},
            }
        )

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scripted_upstream() -> Iterator[Upstream]:
    port = _free_port()
    upstream = Upstream(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(_app(upstream), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the scripted upstream did not start")
        time.sleep(0.01)
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(timeout=5)
