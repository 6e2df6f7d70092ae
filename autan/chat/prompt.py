"""Chat request -> prompt tokens, for models whose GGUF carries a chat template."""

from __future__ import annotations

import json
from dataclasses import dataclass

from autan.chat.template import ChatTemplate, TemplateMessage
from autan.chat.tool_format import HistoryCall, ToolFormat
from autan.chat.tools import ToolPlan
from autan.errors import InvalidRequest
from autan.inference.engine import Engine
from autan.protocol.chat import (
    AssistantMessage,
    Content,
    Message,
    TextChunk,
    ToolMessage,
)

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


def _template_message(i: int, msg: Message, tools: ToolFormat) -> TemplateMessage:
    text = content_text(msg.content, where=f"messages[{i}].content")
    if isinstance(msg, AssistantMessage) and msg.tool_calls:
        calls = tools.render_calls(
            [
                HistoryCall(
                    c.id,
                    c.function.name,
                    c.function.arguments
                    if isinstance(c.function.arguments, str)
                    else json.dumps(c.function.arguments, ensure_ascii=False),
                )
                for c in msg.tool_calls
            ]
        )
        return TemplateMessage("assistant", f"{text}\n{calls}" if text else calls)
    if isinstance(msg, ToolMessage):
        return TemplateMessage("tool", tools.render_result(text, name=msg.name))
    return TemplateMessage(msg.role, text)


def build_prompt(
    messages: list[Message],
    engine: Engine,
    template: ChatTemplate,
    *,
    safe_prompt: bool,
    tools: ToolFormat,
    plan: ToolPlan,
) -> ChatPrompt:
    rendered = [_template_message(i, m, tools) for i, m in enumerate(messages)]
    system = [SAFE_PROMPT] if safe_prompt else []
    if plan.active:
        system.append(tools.system_prompt(plan.declared))
    if system:
        if rendered[0].role == "system":
            system.insert(0, rendered.pop(0).content)
        rendered.insert(0, TemplateMessage("system", "\n\n".join(system)))
    last = messages[-1]
    continue_last = isinstance(last, AssistantMessage) and last.prefix
    text = template.render(rendered, continue_last=continue_last)
    add_bos = engine.info.add_bos and not (template.bos_text and text.startswith(template.bos_text))
    tokens = engine.tokenize(text, add_special=add_bos, parse_special=True)
    return ChatPrompt(tokens=tokens, prefix=rendered[-1].content if continue_last else "")
