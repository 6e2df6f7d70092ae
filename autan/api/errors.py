"""Every error leaves the server in the Mistral envelope; this is the one place that maps them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autan.errors import AutanError
from autan.protocol.errors import ErrorType, error_body, validation_body

log = logging.getLogger(__name__)

_TYPE_BY_STATUS: dict[int, ErrorType] = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_response(
    status: int,
    message: str | dict[str, Any],
    *,
    type_: ErrorType | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    if type_ is None:
        type_ = _TYPE_BY_STATUS.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
    body = error_body(message, type_, param=param, code=code)
    return JSONResponse(body, status_code=status, headers=headers)


def autan_error_response(exc: AutanError) -> JSONResponse:
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
    )


async def _autan_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutanError)
    request.state.error_code = exc.code  # the reason of a 429 or 503, for the metrics
    return autan_error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with pydantic's details under ``message.detail``, as Mistral sends them."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error", code="internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutanError, _autan_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
