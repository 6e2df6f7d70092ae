"""Chat request -> prompt tokens, for models whose GGUF carries a chat template."""

from __future__ import annotations

import json

from autan.chat.json_tools import JsonToolFormat
from autan.chat.prompt import SAFE_PROMPT, ChatPrompt, content_text
from autan.chat.template import ChatTemplate, TemplateMessage
from autan.chat.tool_format import HistoryCall, ToolCallParser, ToolFormat
from autan.chat.tools import ToolPlan
from autan.inference.engine import Engine
from autan.protocol.chat import AssistantMessage, Message, ToolMessage


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
        text = self._template.render(rendered, continue_last=continue_last)
        bos = self._template.bos_text
        add_bos = self._engine.info.add_bos and not (bos and text.startswith(bos))
        tokens = self._engine.tokenize(text, add_special=add_bos, parse_special=True)
        return ChatPrompt(tokens=tokens, prefix=rendered[-1].content if continue_last else "")

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
