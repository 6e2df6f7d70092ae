"""Every error leaves the server in the Mistral envelope; this is the one place that maps them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from autan.api.request_state import REQUEST_ID_HEADER, request_context
from autan.errors import AutanError
from autan.protocol.errors import ErrorType, error_body, observability_detail, validation_body

log = logging.getLogger(__name__)

_TYPE_BY_STATUS: dict[int, ErrorType] = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


# Mistral's observability API describes its errors as ``{"detail": {"message", "error_code"}}``.
_OBSERVABILITY = "/v1/observability/"


def _answer(
    scope: Scope | None,
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``body`` with the request's id (in the envelope and as ``x-request-id``), and its
    error code noted for the request log."""
    headers = dict(headers or {})
    context = None if scope is None else request_context(scope)
    if context is not None:
        context.error_code = body.get("code")
        body["request_id"] = context.request_id
        headers[REQUEST_ID_HEADER] = context.request_id
    if scope is not None and str(scope.get("path", "")).startswith(_OBSERVABILITY):
        body["detail"] = observability_detail(status, body["message"])
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(
    status: int,
    message: str | dict[str, Any],
    *,
    type_: ErrorType | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    scope: Scope | None = None,
) -> JSONResponse:
    """The envelope; with ``scope``, the request's id in it (``request_id``)."""
    if type_ is None:
        type_ = _TYPE_BY_STATUS.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
    body = error_body(message, type_, param=param, code=code)
    return _answer(scope, status, body, headers)


def autan_error_response(exc: AutanError, scope: Scope | None = None) -> JSONResponse:
    """The envelope for one of our typed errors (for middleware, which runs outside the
    app's exception handlers)."""
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return error_response(
        exc.status,
        exc.message,
        type_=exc.type,  # type: ignore[arg-type]
        param=exc.param,
        code=exc.code,
        headers=headers,
        scope=scope,
    )


async def _autan_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutanError)
    return autan_error_response(exc, request.scope)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with pydantic's details under ``message.detail``, as Mistral sends them."""
    assert isinstance(exc, RequestValidationError)
    return _answer(request.scope, 422, validation_body(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        exc.status_code, str(exc.detail), headers=exc.headers, scope=request.scope
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Runs outside every middleware: the request id is logged and sent from here.
    context = request_context(request.scope)
    log.exception(
        "unhandled error",
        exc_info=exc,
        extra={"request_id": None if context is None else context.request_id},
    )
    return error_response(500, "Internal server error", code="internal_error", scope=request.scope)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutanError, _autan_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
