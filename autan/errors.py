"""The few typed errors the core raises; ``api/errors.py`` turns them into the Mistral envelope."""

from __future__ import annotations


class AutanError(Exception):
    """Base class: a message the client may read, plus the envelope's ``param`` and ``code``.

    ``retry_after`` (seconds), when set, becomes the response's ``Retry-After`` header.
    """

    status = 500
    type = "server_error"
    retry_after: int | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(AutanError):
    """The request is well-formed JSON but asks for something that cannot be done (400)."""

    status = 400
    type = "invalid_request_error"


class ContextOverflow(InvalidRequest):
    """The prompt does not fit the model's context window (400)."""

    def __init__(self, sent: int, fits: int):
        super().__init__(
            f"Prompt contains {sent} tokens, too large for model with {fits} maximum context "
            f"length. Shorten the messages or use a model with a longer context.",
            param="messages",
            code="context_length_exceeded",
        )
        self.sent = sent
        self.fits = fits


class UnknownModel(AutanError):
    """No model is served under that name (404)."""

    status = 404
    type = "invalid_request_error"

    def __init__(self, name: str):
        super().__init__(f"Invalid model: {name}", param="model", code="model_not_found")


class Overloaded(AutanError):
    """The engine's queue is full; the client should retry after ``retry_after`` seconds (503)."""

    status = 503
    type = "overloaded_error"

    def __init__(self, retry_after: int = 1):
        super().__init__(
            "The server is overloaded: too many requests are waiting. Retry shortly.",
            code="overloaded",
        )
        self.retry_after = retry_after


class ModelLoadFailed(AutanError):
    """A declared model could not be loaded (its file went missing, libllama refused it)."""

    status = 503
    type = "server_error"

    def __init__(self, name: str, reason: str):
        super().__init__(f"Model {name} could not be loaded: {reason}", code="model_load_failed")


class ModelsFileError(ValueError):
    """The models file is wrong. Stops ``autan serve`` or an ``autan models`` command; never an
    HTTP answer. The message names the file and the entry."""


class InputTooLong(InvalidRequest):
    """One text given to an embedding model holds more tokens than the model reads (400)."""

    def __init__(self, index: int, sent: int, fits: int):
        super().__init__(
            f"Input {index} contains {sent} tokens, too large for model with {fits} maximum "
            f"context length. Shorten or split that text.",
            param="input",
            code="context_length_exceeded",
        )
        self.index = index
        self.sent = sent
        self.fits = fits


class Unauthorized(AutanError):
    """No API key, or one that is unknown, revoked or expired (401)."""

    status = 401
    type = "authentication_error"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message, code="invalid_api_key")


class Forbidden(AutanError):
    """A valid key asking for what it may not have: another model, an admin route (403)."""

    status = 403
    type = "permission_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param, code="permission_denied")


class RateLimited(AutanError):
    """A key's request, token or spend limit is reached; ``retry_after`` is the true wait (429)."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited") -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class NotFound(AutanError):
    """An account object (key, workspace) that does not exist (404)."""

    status = 404
    type = "invalid_request_error"

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"No {what} with id {ident}", code="not_found")


class FileTooLarge(AutanError):
    """An upload larger than the configured limit (413)."""

    status = 413
    type = "invalid_request_error"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"File too large: uploads are limited to {limit} bytes on this server "
            "(AUTAN_FILES__MAX_UPLOAD_BYTES)",
            param="file",
            code="file_too_large",
        )
        self.limit = limit


class BodyTooLarge(AutanError):
    """A request body larger than the configured limit (413)."""

    status = 413
    type = "invalid_request_error"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Request body too large: this server takes at most {limit} bytes "
            "(AUTAN_LIMITS__MAX_BODY_BYTES)",
            code="request_too_large",
        )
        self.limit = limit


class FileContentMissing(AutanError):
    """A file is recorded in the database but its bytes are not in this process's blob store:
    it was uploaded through a process with another data directory (500, never a 200 cut
    short)."""

    status = 500
    type = "server_error"

    def __init__(self, file_id: str) -> None:
        super().__init__(
            f"The content of file {file_id} is not on this server: file contents live in the "
            "data directory of the autan process that stored them, and processes sharing a "
            "database do not share files yet. Download it through that process.",
            code="file_content_missing",
        )
        self.file_id = file_id


class Conflict(AutanError):
    """The object is not in a state that allows this (409): cancelling a finished job."""

    status = 409
    type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict")


class TrainingFileNotFound(NotFound):
    """A fine-tuning job names a training or validation file the workspace does not have (404)."""

    def __init__(self, file_id: str) -> None:
        super().__init__("file", file_id)
        self.param = "training_files"
        self.file_id = file_id


class InvalidTrainingData(InvalidRequest):
    """A training file breaks the dataset rules; ``reasons`` name the lines (400 on dry runs,
    FAILED_VALIDATION on jobs)."""

    def __init__(self, reasons: list[str]) -> None:
        shown = reasons[:20]
        more = f" (and {len(reasons) - len(shown)} more)" if len(reasons) > len(shown) else ""
        super().__init__(
            "Invalid training data: " + "; ".join(shown) + more,
            param="training_files",
            code="invalid_training_data",
        )
        self.reasons = reasons


class UpstreamError(AutanError):
    """A routed deployment failed or refused. ``retryable`` failures (no connection, a
    timeout, 5xx, 429) cool the deployment down and let the router try another one; the others
    (4xx) are the request's fault and reach the client with the upstream's status and message."""

    type = "server_error"

    def __init__(
        self,
        deployment: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        code: str | None = None,
        timed_out: bool = False,
    ) -> None:
        what = f"answered {status}" if status is not None else "failed"
        super().__init__(f"Upstream {deployment} {what}: {message}", code=code or "upstream_error")
        self.deployment = deployment
        self.upstream_status = status
        self.upstream_message = message
        self.timed_out = timed_out
        self.retry_after = retry_after
        self.retryable = status is None or status in (408, 429) or status >= 500
        self.status = 502 if self.retryable else status or 502
        if not self.retryable:
            self.type = "invalid_request_error"


class InvalidUpstreamReply(UpstreamError):
    """A deployment's reply broke the request's guarantees (a tool call's arguments outside
    their schema, content that is not the JSON asked for, a forced call missing): it is never
    passed on as valid (502)."""

    def __init__(self, deployment: str, problem: str) -> None:
        super().__init__(deployment, problem, code="invalid_upstream_reply")
        self.retryable = False
        self.status = 502
        self.type = "server_error"


class NoDeploymentAvailable(AutanError):
    """Every deployment of a model, and of its fallbacks, failed or is cooling down (503)."""

    status = 503
    type = "overloaded_error"

    def __init__(self, model: str, last_error: str | None, retry_after: int = 1) -> None:
        why = f"; last error: {last_error}" if last_error else ""
        super().__init__(
            f"No deployment of model {model} could answer{why}", code="no_deployment_available"
        )
        self.retry_after = retry_after


class StreamBroken(AutanError):
    """A stream's source died after its first chunk reached the client: the stream ends with a
    final chunk and this error as an event, never a hang."""

    status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message, code="stream_interrupted")
