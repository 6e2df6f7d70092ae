"""Every error leaves the server in the Mistral envelope; this is the one place that maps them."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autan.errors import AutanError
from autan.protocol.errors import ErrorPublic, ErrorType

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
    body = ErrorPublic(message=message, type=type_, param=param, code=code)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as Mistral lists them, safe to encode as JSON. A body the app did not
    read as JSON (sent as text/plain, say) is not echoed: the message says how to send it."""
    detail = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("type", "loc", "msg", "input", "ctx")}
        if "ctx" in item:
            item["ctx"] = {k: str(v) for k, v in item["ctx"].items()}
        if isinstance(item.get("input"), bytes | bytearray):
            del item["input"]
            item["msg"] += "; send the body as JSON with Content-Type: application/json"
        elif "input" in item:
            item["input"] = _encodable(item["input"])
        detail.append(jsonable_encoder(item, custom_encoder={float: _finite}))
    return detail


def _finite(value: float) -> float | str:
    """JSON has no NaN or infinity: such an input is echoed as its text."""
    return value if math.isfinite(value) else str(value)


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


async def _autan_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutanError)
    return autan_error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with pydantic's details under ``message.detail``, as Mistral sends them."""
    assert isinstance(exc, RequestValidationError)
    return error_response(
        422, {"detail": validation_detail(exc.errors())}, code="invalid_request_schema"
    )


def _encodable(value: Any) -> Any:
    """``value`` with every string UTF-8 can encode: a lone surrogate the client sent (as
    ``\\ud800`` in its JSON) is echoed back escaped."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


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
