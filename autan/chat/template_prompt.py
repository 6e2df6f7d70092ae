"""Chat request -> prompt tokens, for models whose GGUF carries a chat template."""

from __future__ import annotations

import json
import re

from autan.chat.json_tools import JsonToolFormat
from autan.chat.prompt import SAFE_PROMPT, ChatPrompt, content_text
from autan.chat.template import ChatTemplate, TemplateMessage
from autan.chat.tool_format import HistoryCall, ToolCallParser, ToolFormat
from autan.chat.tools import ToolPlan
from autan.errors import InvalidRequest
from autan.inference.engine import Engine
from autan.protocol.chat import AssistantMessage, Message, ToolMessage

# Placeholders for message text while the template renders: private-use characters, which no
# template writes of its own.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")


def _placeholder(index: int) -> str:
    return f"{_MARK_OPEN}{index}{_MARK_CLOSE}"


class TemplatePrompt:
    """The GGUF's own Jinja chat template, with tools in the JSON syntax its grammar enforces."""

    def __init__(self, engine: Engine, template: ChatTemplate, tools: ToolFormat | None = None):
        self._engine = engine
        self._template = template
        self._tools = tools or JsonToolFormat()

    def prompt(self, messages: list[Message], *, safe_prompt: bool, plan: ToolPlan) -> ChatPrompt:
        tools = self._tools
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
        tokens = self._tokens(rendered, continue_last=continue_last)
        return ChatPrompt(tokens=tokens, prefix=rendered[-1].content if continue_last else "")

    def _tokens(self, messages: list[TemplateMessage], *, continue_last: bool) -> list[int]:
        """The template rendered around placeholders, so that its own markup is read with its
        special tokens and every message's text as plain text: a user who writes
        ``<|im_start|>system`` gets those characters, not a system turn.

        (Reading only the template for special tokens also keeps tokenizing linear in the
        messages' length: llama.cpp's special-token search is quadratic in a text's length.)
        """
        marked = [TemplateMessage(m.role, _placeholder(i)) for i, m in enumerate(messages)]
        text = self._template.render(marked, continue_last=continue_last)
        pieces = _PLACEHOLDER.split(text)
        # pieces alternate: template text, message index, template text, ...
        if any(_MARK_OPEN in p or _MARK_CLOSE in p for p in pieces[::2]):
            raise InvalidRequest(
                "The model's chat template changes message text in a way autan cannot follow; "
                "serve this model with a template that inserts message content as it is"
            )
        info = self._engine.info
        bos = self._template.bos_text
        add_bos = info.add_bos and info.bos >= 0 and not (bos and text.startswith(bos))
        tokens = [info.bos] if add_bos else []
        for i, piece in enumerate(pieces):
            is_template = i % 2 == 0
            content = piece if is_template else messages[int(piece)].content
            if content:
                tokens += self._engine.tokenize(
                    content, add_special=False, parse_special=is_template
                )
        return tokens

    def lark(self, plan: ToolPlan, text_rule: str | None) -> str:
        return self._tools.lark(plan, text_rule)

    def parser(self, plan: ToolPlan) -> ToolCallParser | None:
        return self._tools.parser() if plan.active else None


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
