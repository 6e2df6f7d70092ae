"""What the HTTP layer keeps in a request's ASGI scope: its request id and its context."""

from __future__ import annotations

from starlette.types import Scope

from autan.observability.request_context import RequestContext

# ``request.state.request_id`` and ``request.state.request_context`` in a route.
REQUEST_ID = "request_id"
REQUEST_CONTEXT = "request_context"
REQUEST_ID_HEADER = "x-request-id"


def request_context(scope: Scope) -> RequestContext | None:
    """The context ``RequestLogMiddleware`` made for this request, if it ran."""
    context: RequestContext | None = scope.get("state", {}).get(REQUEST_CONTEXT)
    return context
