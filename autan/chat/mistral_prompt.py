"""Chat request -> prompt tokens for models with a Mistral tokenizer, encoded by mistral-common.

The ids come from mistral-common itself and go to ``llama_decode`` as they are: llama.cpp's
built-in Mistral templates place the system prompt and the tool list elsewhere than Mistral's
reference does, and SentencePiece's space prefix differs in places (the FIM suffix).

Tool calls follow the tokenizer's syntax: ``[TOOL_CALLS]`` then a JSON list of
``{"name": ..., "arguments": {...}}`` (tokenizers v2 to v7). The grammar makes the list name
declared functions with arguments that match their schemas.
"""

from __future__ import annotations

import json
from typing import Any

from autan.chat.prompt import SAFE_PROMPT, ChatPrompt, content_text
from autan.chat.schemas import lark_call_objects, lark_json, lark_literal
from autan.chat.tool_format import Parsed, ParsedCall, read_call
from autan.chat.tools import ToolMode, ToolPlan
from autan.errors import InvalidRequest
from autan.models.mistral_tokenizer import MistralTokenizer
from autan.protocol.chat import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
)

CALLS = "[TOOL_CALLS]"
ARGS = "[ARGS]"
CALL_ID = "[CALL_ID]"
_ANY_TEXT = r"/(?s:.*)/ & ~/(?s:.*)\[TOOL_CALLS\](?s:.*)/"


class MistralPrompt:
    """Prompts, tool grammar and reply parsing for one Mistral tokenizer.

    Calls are ``[TOOL_CALLS] [{"name": …, "arguments": {…}}, …]`` up to tokenizer v7 and
    ``[TOOL_CALLS]name[ARGS]{…}`` once per call from v11 on.
    """

    def __init__(self, tokenizer: MistralTokenizer) -> None:
        self.tokenizer = tokenizer
        self._calls_token = tokenizer.control(CALLS)
        self._args_token = tokenizer.control(ARGS) if tokenizer.version_number >= 11 else None
        # SentencePiece writes a space before the first word of a reply; Mistral's API does not.
        self._strip_space = tokenizer.kind == "spm"

    def prompt(self, messages: list[Message], *, safe_prompt: bool, plan: ToolPlan) -> ChatPrompt:
        from mistral_common.exceptions import MistralCommonException
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        converted = [_message(i, m) for i, m in enumerate(messages)]
        if safe_prompt:
            converted = _with_safe_prompt(converted)
        tools = [_tool(t.name, t.description, t.parameters) for t in plan.declared]
        if tools and self._calls_token is None:
            raise InvalidRequest(
                f"This model's tokenizer ({self.tokenizer.version}) has no tool calls",
                param="tools",
            )
        request: Any = ChatCompletionRequest(
            messages=converted, tools=tools if plan.active else None
        )
        try:
            tokenized = self.tokenizer.inner.encode_chat_completion(request)
        except (MistralCommonException, AssertionError, ValueError) as e:
            raise InvalidRequest(f"Cannot encode these messages: {e}", param="messages") from e
        last = messages[-1]
        prefix = ""
        if isinstance(last, AssistantMessage) and last.prefix:
            prefix = content_text(last.content, where=f"messages[{len(messages) - 1}].content")
        return ChatPrompt(tokens=list(tokenized.tokens), prefix=prefix)

    def lark(self, plan: ToolPlan, text_rule: str | None) -> str:
        assert self._calls_token is not None, "tools were refused when the prompt was built"
        marker = f"<[{self._calls_token}]>"
        if self._args_token is not None:
            functions = [
                f"fn_{i}: {lark_literal(t.name)} <[{self._args_token}]> {lark_json(t.parameters)}"
                for i, t in enumerate(plan.callable)
            ]
            calls = f"calls: call{'+' if plan.parallel else ''}\ncall: {marker} ({{fns}})"
        else:
            functions = lark_call_objects(plan.callable)
            more = f" ({lark_literal(', ')} call)*" if plan.parallel else ""
            # SentencePiece encodes the list with a leading space, Tekken without one.
            calls = f'calls: {marker} " "? "[" call{more} "]"\ncall: {{fns}}'
        alternatives = " | ".join(f"fn_{i}" for i in range(len(plan.callable)))
        if plan.mode is ToolMode.REQUIRED:
            start = "start: calls"
        elif text_rule is None:
            start = "start: TEXT | calls"
        else:
            start = f"start: text | calls\ntext: {text_rule}"
        return "\n".join(
            [start, calls.replace("{fns}", alternatives), *functions, f"TEXT: {_ANY_TEXT}"]
        )

    def parser(self, plan: ToolPlan) -> MistralReplyParser:
        return MistralReplyParser(
            strip_space=self._strip_space, calls=plan.active, named=self._args_token is not None
        )


class MistralReplyParser:
    """Reads a reply: text until ``[TOOL_CALLS]``, then the calls in the tokenizer's syntax.

    A JSON list of calls is released when the list closes; ``name[ARGS]{…}`` calls one by one
    as each object closes. For a request without tools the reply is all content; only the
    space SentencePiece puts before the first word is dropped.
    """

    def __init__(self, *, strip_space: bool, calls: bool, named: bool = False) -> None:
        self._strip_space = strip_space
        self._calls = calls
        self._named = named
        self._started = False
        self._held = ""
        self._in_calls = False

    def feed(self, text: str) -> Parsed:
        if not self._started:
            if not text:
                return Parsed()
            self._started = True
            if self._strip_space and text.startswith(" "):
                text = text[1:]
        if not self._calls:
            return Parsed(content=text)
        self._held += text
        if self._in_calls:
            return Parsed(calls=self._complete_calls())
        at = self._held.find(CALLS)
        if at < 0:
            keep = _partial_marker(self._held)
            cut = len(self._held) - keep
            out, self._held = self._held[:cut], self._held[cut:]
            return Parsed(content=out)
        content, self._held = self._held[:at], self._held[at:]
        self._in_calls = True
        return Parsed(content=content, calls=self._complete_calls())

    def finish(self, *, cut: bool) -> Parsed:
        # ``[TOOL_CALLS]`` is one control token: a reply cut short never ends half-way
        # through it, so held-back text that only looks like its start is content.
        if not self._in_calls:
            rest, self._held = self._held, ""
            return Parsed(content=rest)
        calls = self._complete_calls()
        self._held = ""  # an unfinished call, dropped
        return Parsed(calls=calls)

    def _complete_calls(self) -> list[ParsedCall]:
        return self._named_calls() if self._named else self._listed_calls()

    def _listed_calls(self) -> list[ParsedCall]:
        text = self._held[len(CALLS) :].lstrip()
        if not text.endswith("]"):
            return []
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            return []
        calls = [c for c in map(read_call, items if isinstance(items, list) else []) if c]
        if calls:
            self._held = ""
        return calls

    def _named_calls(self) -> list[ParsedCall]:
        calls = []
        decoder = json.JSONDecoder()
        while self._held.startswith(CALLS):
            head, sep, body = self._held[len(CALLS) :].partition(ARGS)
            if not sep:
                break
            name = head.split(CALL_ID)[0]
            try:
                args, end = decoder.raw_decode(body)
            except json.JSONDecodeError:
                break
            if not isinstance(args, dict):
                break
            calls.append(ParsedCall(name, json.dumps(args, ensure_ascii=False)))
            self._held = body[end:]
        return calls


def _partial_marker(text: str) -> int:
    """How many trailing characters could be the start of ``[TOOL_CALLS]``."""
    for n in range(min(len(CALLS) - 1, len(text)), 0, -1):
        if CALLS.startswith(text[-n:]):
            return n
    return 0


def _tool(name: str, description: str, parameters: dict[str, Any]) -> Any:
    from mistral_common.protocol.instruct.tool_calls import Function, Tool

    return Tool(function=Function(name=name, description=description, parameters=parameters))


def _message(i: int, msg: Message) -> Any:
    from mistral_common.protocol.instruct import messages as mc
    from mistral_common.protocol.instruct.tool_calls import FunctionCall, ToolCall

    text = content_text(msg.content, where=f"messages[{i}].content")
    if isinstance(msg, SystemMessage):
        return mc.SystemMessage(content=text)
    if isinstance(msg, UserMessage):
        return mc.UserMessage(content=text)
    if isinstance(msg, ToolMessage):
        return mc.ToolMessage(content=text, tool_call_id=msg.tool_call_id, name=msg.name)
    assert isinstance(msg, AssistantMessage), f"unexpected message type {type(msg).__name__}"
    calls = [
        ToolCall(
            id=c.id or "null",
            function=FunctionCall(
                name=c.function.name,
                arguments=c.function.arguments
                if isinstance(c.function.arguments, str)
                else json.dumps(c.function.arguments, ensure_ascii=False),
            ),
        )
        for c in msg.tool_calls or []
    ]
    return mc.AssistantMessage(content=text or None, tool_calls=calls or None, prefix=msg.prefix)


def _with_safe_prompt(messages: list[Any]) -> list[Any]:
    from mistral_common.protocol.instruct.messages import SystemMessage as McSystem

    if messages and isinstance(messages[0], McSystem):
        merged = f"{SAFE_PROMPT}\n\n{messages[0].content}"
        return [McSystem(content=merged), *messages[1:]]
    return [McSystem(content=SAFE_PROMPT), *messages]
