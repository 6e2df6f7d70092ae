"""What every prompt format gives the chat service: prompt tokens, a tool grammar, a parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from autan.chat.tool_format import ToolCallParser
from autan.chat.tools import ToolPlan
from autan.errors import InvalidRequest
from autan.protocol.chat import Content, Message, TextChunk

# Mistral's documented safety prompt, prepended when a request sets ``safe_prompt: true``.
SAFE_PROMPT = (
    "Always assist with care, respect, and truth. Respond with utmost utility yet securely. "
    "Avoid harmful, unethical, prejudiced, or negative content. Ensure replies promote fairness "
    "and positivity."
)


@dataclass(frozen=True, slots=True)
class ChatPrompt:
    tokens: list[int]
    prefix: str  # assistant text the reply continues (``prefix: true``), echoed in the reply


def content_text(content: Content | None, *, where: str) -> str:
    """Plain text of a message's content; chunk types the model cannot read are refused."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for chunk in content:
        if not isinstance(chunk, TextChunk):
            raise InvalidRequest(
                f"Content chunks of type '{chunk.type}' are not supported by this model; "
                "send text chunks only",
                param=where,
            )
        parts.append(chunk.text)
    return "".join(parts)


class PromptFormat(Protocol):
    """How one model family is prompted and how its replies are read back."""

    def prompt(self, messages: list[Message], *, safe_prompt: bool, plan: ToolPlan) -> ChatPrompt:
        """The prompt tokens; raises InvalidRequest for what this format cannot express."""
        ...

    def lark(self, plan: ToolPlan, text_rule: str | None) -> str:
        """The reply's grammar for an active ``plan``. ``text_rule`` is what a reply without
        calls must be (a ``%json`` term for structured outputs); None means any text."""
        ...

    def parser(self, plan: ToolPlan) -> ToolCallParser | None:
        """A reader of replies for this request, or None when the text is the content."""
        ...
