"""How a model family writes tool calls: the prompt that declares tools, the grammar that
constrains the reply, and the parser that reads calls back out of it.

One ``ToolFormat`` per model family. Its parser is shared by streaming and non-streaming
replies: both feed it text and read back content and complete calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from autan.chat.tools import ToolPlan, ToolSpec


@dataclass(frozen=True, slots=True)
class ParsedCall:
    name: str
    arguments: str  # a JSON object, as text


def read_call(obj: Any) -> ParsedCall | None:
    """A ``{"name": ..., "arguments": {...}}`` object as a call, or None if it is not one.

    Arguments written as a JSON string are read too; they must hold an object.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ParsedCall(obj["name"], json.dumps(args, ensure_ascii=False))


@dataclass(slots=True)
class Parsed:
    """What a parser could tell from the text fed so far."""

    content: str = ""
    calls: list[ParsedCall] = field(default_factory=list)


class ToolCallParser(Protocol):
    def feed(self, text: str) -> Parsed:
        """Take the next piece of the reply; return the content and calls now complete."""
        ...

    def finish(self, *, cut: bool) -> Parsed:
        """The reply ended; ``cut``: by ``max_tokens`` or the context, mid-way. Returns the
        rest of the content and the calls now complete. An unfinished call is dropped, never
        returned as text: its markup must not reach ``content``."""
        ...


@dataclass(frozen=True, slots=True)
class HistoryCall:
    """A call from an earlier assistant turn, as the conversation replays it."""

    id: str | None
    name: str
    arguments: str


class ToolFormat(Protocol):
    def system_prompt(self, tools: list[ToolSpec]) -> str:
        """Text that declares ``tools`` to the model (joined to the system message)."""
        ...

    def render_calls(self, calls: list[HistoryCall]) -> str:
        """An earlier assistant turn's calls, written as the model would have written them."""
        ...

    def render_result(self, content: str, *, name: str | None) -> str:
        """A tool message's content, as the model expects to read it."""
        ...

    def lark(self, plan: ToolPlan, text_rule: str | None) -> str:
        """The reply's grammar for an active ``plan``. ``text_rule`` is what a reply without
        calls must be (a ``%json`` term for structured outputs); None means any text."""
        ...

    def parser(self) -> ToolCallParser: ...
