"""One batch line through the same services as the HTTP endpoints, in-process, at batch
priority; whatever the service answers, or refuses, becomes the line's status and body."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from autan.accounts.meter import Meter
from autan.errors import AutanError, InvalidRequest, NoDeploymentAvailable, Overloaded, UnknownModel
from autan.inference.sequence import Priority
from autan.protocol.chat import ChatCompletionRequest
from autan.protocol.embeddings import EmbeddingRequest
from autan.protocol.errors import ErrorType, error_body, validation_body
from autan.protocol.fim import FIMCompletionRequest
from autan.routing.router import Router

CHAT = "/v1/chat/completions"
FIM = "/v1/fim/completions"
EMBEDDINGS = "/v1/embeddings"
ENDPOINTS = (CHAT, FIM, EMBEDDINGS)


@dataclass(frozen=True, slots=True)
class LineResult:
    status_code: int
    body: dict[str, Any]
    error: str | None = None  # why the line failed, for the error file and the job's errors
    code: str | None = None
    # Set when the engine turned the line away for now (its queue full, the server stopping):
    # the line is run again after this many seconds, not answered.
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == 200


def _error(status: int, message: str, type_: str, code: str | None) -> LineResult:
    return LineResult(status, error_body(message, cast(ErrorType, type_), code=code), message, code)


class BatchCaller:
    def __init__(self, router: Router) -> None:
        self._router = router

    def check(self, endpoint: str, model: str | None) -> None:
        """Refuse a job this server cannot run, before it is queued: 400 for an endpoint, 404
        for a model no endpoint serves."""
        if endpoint not in ENDPOINTS:
            raise InvalidRequest(
                f"Batch jobs run {', '.join(ENDPOINTS)}; this server does not run {endpoint}",
                param="endpoint",
                code="unsupported_endpoint",
            )
        if model is None:
            return
        if not self._router.serves(model, "embedding" if endpoint == EMBEDDINGS else "chat"):
            raise UnknownModel(model)

    async def call(
        self, endpoint: str, body: dict[str, Any], model: str | None, meter: Meter | None
    ) -> LineResult:
        """The line's answer. Only a bug in autan raises; refusals are answers."""
        if model is not None:
            body = {**body, "model": model}
        body.pop("stream", None)  # a batch line is answered whole
        try:
            return LineResult(200, await self._dispatch(endpoint, body, meter))
        except ValidationError as e:
            errors = e.errors()
            message = "; ".join(
                f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in errors
            )
            return LineResult(
                422,
                validation_body(errors),
                f"Invalid request body: {message}",
                "invalid_request_schema",
            )
        except (Overloaded, NoDeploymentAvailable) as e:
            return replace(
                _error(e.status, e.message, e.type, e.code), retry_after=e.retry_after or 1
            )
        except AutanError as e:
            return _error(e.status, e.message, e.type, e.code)

    async def _dispatch(
        self, endpoint: str, body: dict[str, Any], meter: Meter | None
    ) -> dict[str, Any]:
        response: BaseModel
        if endpoint == CHAT:
            chat = ChatCompletionRequest.model_validate(body)
            response = await self._router.complete_chat(chat, meter, priority=Priority.BATCH)
        elif endpoint == FIM:
            fim = FIMCompletionRequest.model_validate(body)
            response = await self._router.complete_fim(fim, meter, priority=Priority.BATCH)
        else:
            req = EmbeddingRequest.model_validate(body)
            response = await self._router.embed(req, meter)
        dumped: dict[str, Any] = response.model_dump(mode="json")
        return dumped
