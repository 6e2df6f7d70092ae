"""The Mistral error envelope."""

from __future__ import annotations

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
