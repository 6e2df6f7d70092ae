"""The stand-in server: La Plateforme's inference endpoints and an OpenAI-compatible upstream in
one small process, on raw asyncio streams so that it is never the slow part of a benchmark.

    python -m tests.standin.platform --port 9001 [--tokens 16] [--delay-ms 0]

API (any model name is accepted and echoed back; no key is checked, every header is recorded):
``POST /v1/chat/completions``, ``POST /v1/fim/completions``, ``POST /v1/embeddings``,
``GET /v1/models``, ``GET /v1/models/{id}``. Test controls: ``GET /health``,
``POST /_standin/behaviour`` (see :class:`~tests.standin.behaviour.Behaviour`; ``{}`` restores
the default), ``GET /_standin/behaviour``, ``GET /_standin/requests`` (the last requests, oldest
first), ``DELETE /_standin/requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from tests.standin import http11, replies
from tests.standin.behaviour import Behaviour, Behaviours


@dataclass
class Reply:
    """A whole body, or the events of a stream when ``events`` is set."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    events: list[bytes] | None = None


def _json(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode())


class Platform:
    def __init__(self, tokens: int, default: Behaviour, record: int) -> None:
        self.tokens = tokens
        self.behaviours = Behaviours(default)
        self.recorded: collections.deque[http11.Request] = collections.deque(maxlen=record)
        self.model_ids = list(replies.MODEL_IDS)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await http11.read_request(reader, writer)
                except http11.BadRequest as e:
                    writer.write(
                        http11.whole_response(
                            400, replies.error_body(400, str(e)), "application/json", False, []
                        )
                    )
                    break
                if request is None:
                    break
                if not await self.respond(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def respond(self, request: http11.Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close."""
        if request.path.startswith("/v1/"):
            self.recorded.append(request)
            behaviour = self.behaviours.take()
            reply = self.fault(behaviour) or self.api(request, behaviour)
        else:
            behaviour = Behaviour()
            reply = self.control(request)
        if behaviour.delay_ms:
            await asyncio.sleep(behaviour.delay_ms / 1000)
        keep_alive = request.keep_alive
        if reply.events is None:
            data = http11.whole_response(
                reply.status, reply.body, reply.content_type, keep_alive, reply.headers
            )
            if behaviour.die_after_chunks is not None:
                writer.write(data[: len(data) - max(1, len(reply.body) // 2)])
                return False
            writer.write(data)
            await writer.drain()
            return keep_alive
        return await self.stream(reply.events, behaviour, keep_alive, writer)

    async def stream(
        self,
        events: list[bytes],
        behaviour: Behaviour,
        keep_alive: bool,
        writer: asyncio.StreamWriter,
    ) -> bool:
        head = http11.head(
            200,
            [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
                ("transfer-encoding", "chunked"),
            ],
            keep_alive,
        )
        die = behaviour.die_after_chunks
        if die is not None:
            events = events[:die]
        if not behaviour.token_delay_ms:
            tail = [] if die is not None else [http11.LAST_CHUNK]
            writer.write(b"".join([head, *map(http11.chunk, events), *tail]))
            await writer.drain()
            return keep_alive and die is None
        writer.write(head)
        for i, event in enumerate(events):
            if i:
                await asyncio.sleep(behaviour.token_delay_ms / 1000)
            writer.write(http11.chunk(event))
            await writer.drain()
        if die is not None:
            return False
        writer.write(http11.LAST_CHUNK)
        await writer.drain()
        return keep_alive

    @staticmethod
    def fault(behaviour: Behaviour) -> Reply | None:
        if behaviour.status is None or behaviour.status < 400:
            return None
        headers = []
        if behaviour.retry_after is not None:
            retry = behaviour.retry_after
            headers.append(("retry-after", str(int(retry)) if retry == int(retry) else str(retry)))
        message = f"stand-in answering {behaviour.status} as asked"
        return Reply(
            behaviour.status, replies.error_body(behaviour.status, message), headers=headers
        )

    def api(self, request: http11.Request, behaviour: Behaviour) -> Reply:
        path = request.path
        try:
            if request.method == "GET" and path == "/v1/models":
                return Reply(body=replies.model_list(self.model_ids))
            if request.method == "GET" and path.startswith("/v1/models/"):
                model_id = path.removeprefix("/v1/models/")
                if model_id not in self.model_ids:
                    return Reply(404, replies.error_body(404, f"no model {model_id!r}"))
                return _json(replies.model_card(model_id))
            if request.method != "POST":
                return Reply(405, replies.error_body(405, f"{request.method} {path}"))
            try:
                body = json.loads(request.body)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return Reply(400, replies.error_body(400, f"the body is not JSON: {e}"))
            if path == "/v1/chat/completions":
                answer = replies.chat_answer(body, self.tokens, behaviour.break_schema)
            elif path == "/v1/fim/completions":
                answer = replies.fim_answer(body, self.tokens)
            elif path == "/v1/embeddings":
                return Reply(body=replies.embeddings(body))
            else:
                return Reply(404, replies.error_body(404, f"no route {path}"))
        except replies.InvalidRequest as e:
            return Reply(e.status, replies.error_body(e.status, str(e)))
        completion_id = replies.next_id("standin")
        if body.get("stream"):
            options = body.get("stream_options")
            openai_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = replies.completion_events(answer, body["model"], completion_id, openai_usage)
            return Reply(events=events)
        return Reply(body=replies.completion(answer, body["model"], completion_id))

    def control(self, request: http11.Request) -> Reply:
        route = (request.method, request.path)
        if route == ("GET", "/health"):
            return _json({"status": "ok"})
        if route == ("GET", "/_standin/requests"):
            return _json([_recorded(r) for r in self.recorded])
        if route == ("DELETE", "/_standin/requests"):
            self.recorded.clear()
            return _json({"cleared": True})
        if route == ("GET", "/_standin/behaviour"):
            return _json(self.behaviours.current.to_json())
        if route == ("POST", "/_standin/behaviour"):
            try:
                data = json.loads(request.body or b"{}")
                behaviour = Behaviour.from_json(data)
            except ValueError as e:  # JSONDecodeError is a ValueError
                return Reply(422, replies.error_body(422, str(e)))
            if data:
                self.behaviours.set(behaviour)
            else:
                self.behaviours.reset()
            return _json(self.behaviours.current.to_json())
        return Reply(404, replies.error_body(404, f"no route {request.method} {request.path}"))


def _recorded(request: http11.Request) -> dict[str, Any]:
    try:
        body: Any = json.loads(request.body) if request.body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = request.body.decode("utf-8", "replace")
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": body,
    }


async def serve(host: str, port: int, platform: Platform) -> None:
    server = await asyncio.start_server(
        platform.handle, host, port, limit=http11.MAX_HEAD, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.standin.platform", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=16, help="content tokens per reply")
    parser.add_argument("--delay-ms", type=float, default=0, help="wait before the first byte")
    parser.add_argument("--token-delay-ms", type=float, default=0, help="wait between chunks")
    parser.add_argument("--record", type=int, default=100, help="requests kept for inspection")
    args = parser.parse_args(argv)
    default = Behaviour(delay_ms=args.delay_ms, token_delay_ms=args.token_delay_ms)
    platform = Platform(max(args.tokens, 1), default, args.record)
    try:
        import uvloop  # the default event loop is also fast enough; uvloop is a bonus

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port, platform))


if __name__ == "__main__":
    main()
