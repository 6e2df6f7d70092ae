"""Every request gets an id, carried in ``x-request-id`` and recorded with what it did.

Pure ASGI and outermost, so that it sees every answer: the id is the client's own
``x-request-id`` when that is sane (1-128 of ``A-Za-z0-9._:-``), else a new UUID. It is
``request.state.request_id`` for routes (and traces), the current request id for log lines,
and the id of the request's record in the request log. When the answer has ended the
request's context is queued to the request log (``/v1/`` paths only): no database work here.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.accounts.meter import Meter
from autan.api.request_state import REQUEST_CONTEXT, REQUEST_ID, REQUEST_ID_HEADER
from autan.observability.request_context import (
    RequestContext,
    enter_request,
    leave_request,
    new_context,
)
from autan.platform import Platform
from autan.storage.tables import utcnow

_HEADER = REQUEST_ID_HEADER.encode()


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            return str(value.decode("latin-1"))
    return None


def _settle(context: RequestContext, meter: Meter | None) -> None:
    """What only the meter knows (the key, the model admitted, tokens and cost)."""
    if meter is None:
        return
    context.key_id = meter.key.id
    context.workspace_id = meter.key.workspace_id
    context.model = meter.model or context.model
    usage = meter.usage
    if usage.prompt_tokens or usage.completion_tokens:
        context.prompt_tokens = usage.prompt_tokens
        context.completion_tokens = usage.completion_tokens or 0
    context.cost = meter.cost


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = new_context(
            scope.get("method", ""), scope.get("path", ""), utcnow(), _client_request_id(scope)
        )
        request_id = context.request_id
        state = scope.setdefault("state", {})
        state[REQUEST_ID] = request_id
        state[REQUEST_CONTEXT] = context
        header = (_HEADER, request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                context.status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == _HEADER for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        token = enter_request(context)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if not started:  # the server's error handler answers 500
                context.status = 500
            raise
        finally:
            leave_request(token)
            self._record(scope, context)

    @staticmethod
    def _record(scope: Scope, context: RequestContext) -> None:
        if not context.endpoint.startswith("/v1/"):
            return
        platform: Platform | None = getattr(scope["app"].state, "platform", None)
        if platform is None or platform.request_log is None:
            return
        # The route's template (``/v1/files/{file_id}``), as the usage ledger records it.
        route = scope.get("route")
        context.endpoint = getattr(route, "path", context.endpoint)
        _settle(context, scope.get("state", {}).get("meter"))
        platform.request_log.log(context)
