"""Tool calls for models without a tool syntax of their own (the packaged default).

Tools are declared in the system message; a call is a JSON object in tags, the syntax most
small open models were tuned on::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Several calls follow one another, one per block. The grammar makes every block name a declared
function and its arguments match that function's schema; a reply is either text (which may not
contain ``<tool_call>``) or calls only.
"""

from __future__ import annotations

import json

from autan.chat.schemas import lark_call_objects, lark_literal
from autan.chat.tool_format import HistoryCall, Parsed, ParsedCall, read_call
from autan.chat.tools import ToolMode, ToolPlan, ToolSpec

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
_SEPARATOR = "\n"
_BEGIN = OPEN + "\n"
_END = "\n" + CLOSE  # generated JSON holds no raw newline: this cannot occur inside a call
_ANY_TEXT = r"/(?s:.*)/ & ~/(?s:.*)<tool_call>(?s:.*)/"


class JsonToolFormat:
    def system_prompt(self, tools: list[ToolSpec]) -> str:
        listed = "\n".join(
            json.dumps(
                {"name": t.name, "description": t.description, "parameters": t.parameters},
                ensure_ascii=False,
            )
            for t in tools
        )
        return (
            "You can call these functions, described as JSON schemas:\n"
            f"<tools>\n{listed}\n</tools>\n"
            "To call a function, reply with only this, once per call:\n"
            f'{OPEN}\n{{"name": "<function name>", "arguments": <arguments object>}}\n{CLOSE}'
        )

    def render_calls(self, calls: list[HistoryCall]) -> str:
        return _SEPARATOR.join(
            f'{_BEGIN}{{"name": {json.dumps(c.name)}, "arguments": {c.arguments}}}{_END}'
            for c in calls
        )

    def render_result(self, content: str, *, name: str | None) -> str:
        return f"<tool_response>\n{content}\n</tool_response>"

    def lark(self, plan: ToolPlan, text_rule: str | None) -> str:
        functions = lark_call_objects(plan.callable)
        alternatives = " | ".join(f"fn_{i}" for i in range(len(plan.callable)))
        calls = "call" if not plan.parallel else f"call ({lark_literal(_SEPARATOR)} call)*"
        if plan.mode is ToolMode.REQUIRED:
            start = "start: calls"
        elif text_rule is None:
            start = "start: TEXT | calls"
        else:
            start = f"start: text | calls\ntext: {text_rule}"
        return "\n".join(
            [
                start,
                f"calls: {calls}",
                f"call: {lark_literal(_BEGIN)} ({alternatives}) {lark_literal(_END)}",
                *functions,
                f"TEXT: {_ANY_TEXT}",
            ]
        )

    def parser(self) -> JsonToolParser:
        return JsonToolParser()


class JsonToolParser:
    """Reads ``<tool_call>`` blocks out of a reply as it streams.

    Until the reply could still be the start of ``<tool_call>`` nothing is released; text that
    cannot be is content. Once a block opens, each call is released when its block closes.
    """

    def __init__(self) -> None:
        self._held = ""
        self._calls_mode: bool | None = None  # None: not decided yet

    def feed(self, text: str) -> Parsed:
        self._held += text
        if self._calls_mode is None:
            if OPEN.startswith(self._held):
                return Parsed()
            self._calls_mode = self._held.startswith(OPEN)
        if not self._calls_mode:
            out, self._held = self._held, ""
            return Parsed(content=out)
        return Parsed(calls=self._complete_calls())

    def finish(self, *, cut: bool) -> Parsed:
        rest, calls = self._held, self._complete_calls() if self._calls_mode else []
        self._held = ""
        # In calls mode what is left is an unfinished block (or the newline before one). Still
        # undecided, it is the start of "<tool_call>": a call opening when the reply was cut,
        # text that merely looked like one when the model chose to stop there.
        if self._calls_mode or (self._calls_mode is None and cut):
            return Parsed(calls=calls)
        return Parsed(content=rest, calls=calls)

    def _complete_calls(self) -> list[ParsedCall]:
        # A "</tool_call>" inside an argument string is not preceded by a raw newline.
        calls: list[ParsedCall] = []
        while True:
            start = self._held.find(OPEN)
            end = self._held.find(_END, start + len(OPEN)) if start >= 0 else -1
            if end < 0:
                return calls
            call = _read_call(self._held[start + len(OPEN) : end])
            if call is None:  # only possible without the grammar: leave it as text
                return calls
            calls.append(call)
            self._held = self._held[end + len(_END) :].lstrip("\n")


def _read_call(block: str) -> ParsedCall | None:
    try:
        return read_call(json.loads(block))
    except json.JSONDecodeError:
        return None
