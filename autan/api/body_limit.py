"""Request bodies are read whole, and bounded, before the app sees them.

Pure ASGI: the body is counted as it arrives and refused (413) the moment it passes
``max_bytes``, or at once when its ``Content-Length`` says it will; a client cannot make the
server buffer more. Multipart bodies (file uploads) pass untouched: the files routes stream
them to storage against their own limit.

JSON the standard library reads but JSON forbids (``NaN``, ``Infinity``, lone surrogates
such as ``"\\ud800"``) would reach the engine as floats it cannot sample with or text that
cannot be encoded: such a body gets a 400 here. The full check runs only on bodies holding
one of those spellings.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.api.errors import autan_error_response
from autan.errors import AutanError, BodyTooLarge, InvalidRequest

_SUSPECT = re.compile(rb"NaN|Infinity|\\u[dD][89a-fA-F]")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(BodyTooLarge(self.max_bytes), scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body ended
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(BodyTooLarge(self.max_bytes), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _json_problem(body)
        if problem is not None:
            await self._refuse(InvalidRequest(problem, code="invalid_json"), scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(error: AutanError, scope: Scope, receive: Receive, send: Send) -> None:
        await autan_error_response(error, scope)(scope, receive, send)


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON number; send numbers as JSON defines them")


def _json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON, for what Python's reader lets through; None otherwise
    (malformed JSON is left to the request schema's 422)."""
    if _SUSPECT.search(body) is None:
        return None
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except _NotJson as e:
        return f"The request body is not valid JSON: {e}"
    except (ValueError, RecursionError):
        return None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return (
            "The request body is not valid JSON: it holds a lone UTF-16 surrogate escape "
            "(\\ud800 to \\udfff not in a pair), which is no character"
        )
    return None
