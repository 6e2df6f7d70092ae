"""autan's guarantees checked on a remote deployment's reply, before the client sees it.

The local engine cannot break them (its grammar allows nothing else); a remote engine may
ignore ``tool_choice`` or drift from a schema. Each choice is checked: a forced call is there,
every call names a callable function with arguments that match its parameters, and content
asked to be JSON parses and matches its schema. A choice cut short by ``max_tokens`` (finish
reason ``length``) says so itself, and is passed on as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from autan.chat.tools import ToolMode, ToolPlan
from autan.errors import InvalidUpstreamReply
from autan.protocol.chat import ChatCompletionRequest


class ReplyChoice(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def content(self) -> str: ...

    @property
    def calls(self) -> dict[int, dict[str, Any]]: ...

    @property
    def finish_reason(self) -> str | None: ...


def needs_check(req: ChatCompletionRequest, plan: ToolPlan) -> bool:
    """Whether the reply has to be read whole and checked before anything is sent."""
    fmt = req.response_format
    return plan.active or bool(req.tools) or (fmt is not None and fmt.type != "text")


def check_reply(
    req: ChatCompletionRequest, plan: ToolPlan, choices: Sequence[ReplyChoice], deployment: str
) -> None:
    """Raise ``InvalidUpstreamReply`` naming the first broken promise."""
    validators = {t.name: Draft202012Validator(t.parameters) for t in plan.callable}
    fmt = req.response_format
    content_schema: dict[str, Any] | None = None
    if fmt is not None and fmt.type == "json_object":
        content_schema = {"type": "object"}
    elif fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        content_schema = fmt.json_schema.schema_
    for choice in choices:
        if choice.finish_reason == "length":
            continue
        where = f"choice {choice.index}"
        calls = list(choice.calls.values())
        if calls and not plan.active:
            raise InvalidUpstreamReply(deployment, f"{where} calls a tool, which was not allowed")
        if plan.active and plan.mode is ToolMode.REQUIRED and not calls:
            raise InvalidUpstreamReply(deployment, f"{where} has no tool call, which was required")
        if len(calls) > 1 and not plan.parallel:
            raise InvalidUpstreamReply(
                deployment, f"{where} makes {len(calls)} calls with parallel_tool_calls false"
            )
        for call in calls:
            name = call.get("name", "")
            if name not in validators:
                raise InvalidUpstreamReply(
                    deployment, f"{where} calls '{name}', which is not a callable function"
                )
            _check_json(
                call.get("arguments", ""),
                validators[name],
                deployment,
                f"{where}: the arguments of '{name}'",
            )
        if not calls and content_schema is not None:
            _check_json(
                choice.content,
                Draft202012Validator(content_schema),
                deployment,
                f"{where}: the content",
            )


def _check_json(text: str, validator: Draft202012Validator, deployment: str, what: str) -> None:
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidUpstreamReply(deployment, f"{what} is not JSON: {text[:200]!r}") from None
    error = next(iter(validator.iter_errors(value)), None)
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InvalidUpstreamReply(
            deployment, f"{what} break the schema at {path}: {error.message[:200]}"
        )
