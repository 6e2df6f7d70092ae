"""The Mistral error envelope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from autan.protocol.public import Nullable, PublicModel

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "overloaded_error",
]


class ErrorPublic(PublicModel):
    object: Literal["error"] = "error"
    message: str | dict[str, Any]
    type: ErrorType
    param: Nullable[str] = None
    code: Nullable[str] = None


def error_body(
    message: str | dict[str, Any],
    type_: ErrorType,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The envelope as it goes on the wire, for an HTTP answer and a batch line alike."""
    return ErrorPublic(message=message, type=type_, param=param, code=code).model_dump()


# The observability API's error codes for the statuses it answers with.
_OBSERVABILITY_CODES = {
    401: "AUTH_UNAUTHORIZED",
    403: "AUTH_FORBIDDEN",
    404: "SEARCH_NOT_FOUND",
    422: "VALIDATION_ERROR",
}


def observability_detail(status: int, message: str | dict[str, Any]) -> dict[str, Any]:
    """``ObservabilityErrorDetail``: what Mistral's observability API sends under ``detail``
    (beside the usual envelope, so either reader finds what it expects)."""
    text = message if isinstance(message, str) else "Invalid request"
    code = _OBSERVABILITY_CODES.get(
        status, "UNKNOWN_ERROR" if status >= 500 else "SEARCH_BAD_REQUEST"
    )
    return {"message": text, "error_code": code}


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """A 422's envelope: pydantic's errors under ``message.detail``, as Mistral sends them."""
    return error_body(
        {"detail": validation_detail(errors)},
        "invalid_request_error",
        code="invalid_request_schema",
    )


def validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors, safe to encode as JSON. A body that was not read as JSON (sent as
    text/plain, say) is not echoed: the message says how to send it. A lone surrogate is
    echoed escaped, a NaN or an infinity as its text."""
    detail = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("type", "loc", "msg", "input", "ctx")}
        if "ctx" in item:
            item["ctx"] = {k: str(v) for k, v in item["ctx"].items()}
        if isinstance(item.get("input"), bytes | bytearray):
            del item["input"]
            item["msg"] += "; send the body as JSON with Content-Type: application/json"
        detail.append(_json_safe(item))
    return detail


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
