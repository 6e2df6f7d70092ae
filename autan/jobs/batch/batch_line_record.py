"""A batch line as the request log records it: a request of its job, without an HTTP call.

Bodies are not kept for batch lines: the job's input and output files hold them.
"""

from __future__ import annotations

from autan.accounts.api_key import ApiKey
from autan.accounts.meter import Meter
from autan.jobs.batch.batch_caller import LineResult
from autan.observability.request_context import RequestContext, new_context
from autan.storage.tables import utcnow


def line_context(
    job_id: str, endpoint: str, key: ApiKey | None, workspace_id: str
) -> RequestContext:
    context = new_context("POST", endpoint, utcnow())
    context.batch_job_id = job_id
    context.workspace_id = workspace_id
    context.key_id = None if key is None else key.id
    return context


def settle_line(context: RequestContext, result: LineResult, meter: Meter | None) -> RequestContext:
    """``context`` with how its line went: status, error code, model, usage, finish reason."""
    body = result.body
    context.status = result.status_code
    context.error_code = result.code
    model = body.get("model")
    context.model = model if isinstance(model, str) else None
    usage = body.get("usage")
    if isinstance(usage, dict):
        context.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        context.completion_tokens = int(usage.get("completion_tokens") or 0)
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        context.finish_reason = choices[0].get("finish_reason")
    if meter is not None:
        context.model = meter.model or context.model
        context.cost = meter.cost
    return context
