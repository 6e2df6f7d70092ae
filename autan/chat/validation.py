"""Message-order rules of the Mistral API (mistral-common's validator, serving mode)."""

from __future__ import annotations

import itertools
import re

from autan.errors import InvalidRequest
from autan.protocol.chat import AssistantMessage, Message, ToolMessage

_CALL_ID = re.compile(r"[a-zA-Z0-9]{9}")
_MAY_FOLLOW = {
    "system": {"user", "assistant", "system"},
    "user": {"assistant", "system", "user"},
    "assistant": {"assistant", "user", "tool"},
    "tool": {"assistant", "tool", "user"},
}


def validate_messages(messages: list[Message], *, max_messages: int) -> None:
    """Raise ``InvalidRequest`` with the wording clients know when the conversation is malformed,
    or longer than ``max_messages``."""
    if not messages:
        raise InvalidRequest("Conversation must have at least one message", param="messages")
    if len(messages) > max_messages:
        raise InvalidRequest(
            f"Conversation has {len(messages)} messages; this server takes at most "
            f"{max_messages} (AUTAN_LIMITS__MAX_MESSAGES)",
            param="messages",
            code="too_many_messages",
        )
    if len(messages) == 1 and messages[0].role not in ("user", "system"):
        raise InvalidRequest(
            "Conversation must have a user or system message first", param="messages"
        )
    for prev, cur in itertools.pairwise(messages):
        if cur.role not in _MAY_FOLLOW[prev.role]:
            raise InvalidRequest(
                f"Unexpected role '{cur.role}' after role '{prev.role}'", param="messages"
            )
    for i, msg in enumerate(messages):
        if isinstance(msg, AssistantMessage):
            _validate_assistant(msg, last=i == len(messages) - 1)
    last = messages[-1]
    if isinstance(last, AssistantMessage):
        if not last.prefix:
            raise InvalidRequest(
                "Expected last role User or Tool (or Assistant with prefix True) for serving"
                " but got assistant",
                param="messages",
            )
    elif last.role not in ("user", "tool"):
        raise InvalidRequest(
            f"Expected last role User or Tool (or Assistant with prefix True) for serving"
            f" but got {last.role}",
            param="messages",
        )
    _validate_tool_results(messages)
    _validate_call_ids(messages)


def _validate_assistant(msg: AssistantMessage, *, last: bool) -> None:
    has_content = bool(msg.content)
    if msg.prefix and not last:
        raise InvalidRequest(
            "Assistant message with prefix True must be last message", param="messages"
        )
    if msg.prefix and not has_content:
        raise InvalidRequest(
            "Assistant message with prefix True must have content", param="messages"
        )
    if not has_content and not msg.tool_calls:
        raise InvalidRequest(
            "Assistant message must have either content or tool_calls, but not none.",
            param="messages",
        )


def _validate_tool_results(messages: list[Message]) -> None:
    expected = 0
    for msg in messages:
        if isinstance(msg, AssistantMessage):
            if expected:
                raise InvalidRequest(
                    f"Not the same number of function calls and responses: {expected} "
                    "call(s) left unanswered",
                    param="messages",
                )
            expected = len(msg.tool_calls or [])
        elif isinstance(msg, ToolMessage):
            if expected == 0:
                raise InvalidRequest(
                    "Tool message must follow an assistant message with tool_calls",
                    param="messages",
                )
            expected -= 1


def _validate_call_ids(messages: list[Message]) -> None:
    """Ids of calls and results: 9 characters [a-zA-Z0-9], or "null" (the SDK's default)."""
    for i, msg in enumerate(messages):
        if isinstance(msg, AssistantMessage):
            for call in msg.tool_calls or []:
                _check_call_id(call.id, param=f"messages[{i}].tool_calls")
        elif isinstance(msg, ToolMessage):
            _check_call_id(msg.tool_call_id, param=f"messages[{i}].tool_call_id")


def _check_call_id(call_id: str | None, *, param: str) -> None:
    if call_id not in (None, "null") and not _CALL_ID.fullmatch(call_id):
        raise InvalidRequest(
            f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.",
            param=param,
        )
