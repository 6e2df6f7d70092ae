"""Training data for a fine-tuning job: JSONL conversations, checked line by line.

One conversation per line, ``{"messages": [...], "tools"?: [...]}``, as La Plateforme takes
them. The rules follow mistral-common's fine-tuning validation mode: the first message is from
the system or the user, roles alternate as a chat does, a tool message answers a call the
assistant made, and the last message is the assistant's (the one the model learns). Every
broken line is reported with its 1-based line number, so a user can fix the file at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autan.errors import InvalidTrainingData

ROLES = ("system", "user", "assistant", "tool")
_TOOL_CALL_ID = re.compile(r"[a-zA-Z0-9]{9}")
# Which role may follow which; a tool message only after an assistant's tool calls (checked apart).
_NEXT: dict[str, tuple[str, ...]] = {
    "system": ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("tool", "assistant"),
}


class LineError(ValueError):
    """What is wrong with one line; its message becomes ``line N: <message>``."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """One valid line: its messages (as given) and the tools it declares."""

    line: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def characters(self) -> int:
        return sum(len(_text(m.get("content"))) for m in self.messages)


@dataclass(frozen=True, slots=True)
class Dataset:
    """The conversations of one file, and the lines that were skipped as invalid."""

    conversations: list[Conversation]
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path, *, min_examples: int = 1, skip_fraction: float = 0.0) -> Dataset:
        """Check every line of ``path``; raise ``InvalidTrainingData`` listing every broken line,
        unless broken lines are at most ``skip_fraction`` of the file (they are then dropped).
        """
        conversations: list[Conversation] = []
        reasons: list[str] = []
        lines = 0
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                lines += 1
                try:
                    conversations.append(parse_line(number, raw))
                except LineError as e:
                    reasons.append(f"line {number}: {e}")
        if reasons and len(reasons) > skip_fraction * lines:
            raise InvalidTrainingData(reasons)
        if len(conversations) < min_examples:
            raise InvalidTrainingData(
                [
                    f"{path.name} has {len(conversations)} valid examples; at least {min_examples} "
                    "are needed"
                ]
            )
        return cls(conversations, reasons)


def parse_line(number: int, raw: bytes) -> Conversation:
    try:
        sample = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LineError(f"not valid JSON ({e})") from None
    if not isinstance(sample, dict):
        raise LineError("expected a JSON object with a `messages` list")
    messages = sample.get("messages")
    if not isinstance(messages, list) or not messages:
        raise LineError("`messages` must be a non-empty list")
    tools = sample.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise LineError("`tools` must be a list of objects")
    _check_messages(messages)
    return Conversation(number, messages, tools)


def _check_messages(messages: list[Any]) -> None:
    pending_calls: set[str] = set()
    open_calls = 0  # calls made by the last assistant and not yet answered
    previous: str | None = None
    for i, message in enumerate(messages):
        where = f"message {i}"
        if not isinstance(message, dict):
            raise LineError(f"{where} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise LineError(f"{where} has role {role!r}; expected one of {', '.join(ROLES)}")
        if previous is None and role not in ("system", "user"):
            raise LineError(f"the first message must be from the system or the user, not {role}")
        if previous is not None and role not in _NEXT[previous]:
            raise LineError(f"{where}: a {role} message cannot follow a {previous} message")
        if role == "system" and i > 0:
            raise LineError(f"{where}: only the first message may be a system message")
        if role == "assistant":
            calls = _check_assistant(where, message)
            pending_calls = {c for c in calls if c}
            open_calls = len(calls)
        elif role == "tool":
            if open_calls == 0:
                raise LineError(f"{where}: more tool responses than tool calls")
            call_id = message.get("tool_call_id")
            if call_id is not None and pending_calls and call_id not in pending_calls:
                raise LineError(f"{where}: tool_call_id {call_id!r} answers no call made")
            open_calls -= 1
            _require_content(where, message)
        else:
            if previous == "assistant" and open_calls:
                raise LineError(f"{where}: the assistant's tool calls were not answered")
            _require_content(where, message)
        previous = role
    if previous != "assistant":
        raise LineError(f"the last message must be from the assistant, not {previous}")


def _check_assistant(where: str, message: dict[str, Any]) -> list[str]:
    weight = message.get("weight", 1)
    if weight not in (0, 1):
        raise LineError(f"{where}: `weight` must be 0 or 1")
    calls = message.get("tool_calls") or []
    has_content = bool(_text(message.get("content")))
    if not isinstance(calls, list):
        raise LineError(f"{where}: `tool_calls` must be a list")
    if not calls and not has_content:
        raise LineError(f"{where}: an assistant message needs content or tool_calls")
    ids = []
    for j, call in enumerate(calls):
        ids.append(_check_tool_call(f"{where}, tool call {j}", call))
    return ids


def _check_tool_call(where: str, call: Any) -> str:
    if not isinstance(call, dict):
        raise LineError(f"{where} is not an object")
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise LineError(f"{where}: needs `function` with a `name`")
    arguments = function.get("arguments", "{}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            raise LineError(f"{where}: `arguments` is not valid JSON") from None
    if not isinstance(arguments, dict):
        raise LineError(f"{where}: `arguments` must be a JSON object")
    call_id = call.get("id")
    if call_id is not None and not _TOOL_CALL_ID.fullmatch(str(call_id)):
        raise LineError(f"{where}: `id` must be 9 characters from [a-zA-Z0-9]")
    return str(call_id) if call_id is not None else ""


def _require_content(where: str, message: dict[str, Any]) -> None:
    content = message.get("content")
    if not isinstance(content, str | list):
        raise LineError(f"{where}: needs `content` as a string or a list of text chunks")
    if isinstance(content, list):
        for chunk in content:
            if not isinstance(chunk, dict) or chunk.get("type") != "text":
                raise LineError(f"{where}: only text chunks are supported in `content`")


def _text(content: Any) -> str:
    """A message's content as plain text (chunks joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


def plain_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The messages as a chat template reads them: text content, tool calls kept."""
    out = []
    for m in conversation.messages:
        message = {k: v for k, v in m.items() if k != "weight"}
        message["content"] = _text(m.get("content"))
        out.append(message)
    return out
