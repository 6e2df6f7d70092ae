"""Function tools of a request: validated, and what ``tool_choice`` asks of the output."""

from __future__ import annotations

import enum
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from autan.chat.schemas import check_schema
from autan.errors import InvalidRequest
from autan.protocol.chat import BuiltinTool, ChatCompletionRequest, FunctionTool, NamedToolChoice

MAX_TOOLS = 128
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ID_ALPHABET = string.ascii_letters + string.digits


class ToolMode(enum.Enum):
    NONE = "none"  # never call a tool
    AUTO = "auto"  # text or calls, the model decides
    REQUIRED = "required"  # at least one call (``any`` is Mistral's older word for it)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A declared function: its name, description and the schema its arguments must match."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """What the request allows: the tools declared, those callable now, and how many calls."""

    declared: list[ToolSpec]
    callable: list[ToolSpec]  # a named tool_choice narrows this to one tool
    mode: ToolMode
    parallel: bool

    @property
    def active(self) -> bool:
        return self.mode is not ToolMode.NONE and bool(self.callable)


def plan_tools(req: ChatCompletionRequest) -> ToolPlan:
    """Validate ``tools`` and ``tool_choice``; a 400 for anything that cannot be honoured."""
    specs = _tool_specs(req.tools or [])
    choice = req.tool_choice
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        named = [s for s in specs if s.name == name]
        if not named:
            declared = ", ".join(s.name for s in specs) or "none"
            raise InvalidRequest(
                f"tool_choice names function '{name}', which is not among the tools "
                f"declared ({declared})",
                param="tool_choice",
            )
        return ToolPlan(specs, named, ToolMode.REQUIRED, req.parallel_tool_calls)
    if choice in ("any", "required") and not specs:
        raise InvalidRequest(
            f"tool_choice '{choice}' requires at least one function in tools",
            param="tool_choice",
        )
    mode = {"none": ToolMode.NONE, "auto": ToolMode.AUTO}.get(choice, ToolMode.REQUIRED)
    return ToolPlan(specs, specs, mode, req.parallel_tool_calls)


def _tool_specs(tools: list[FunctionTool | BuiltinTool]) -> list[ToolSpec]:
    if len(tools) > MAX_TOOLS:
        raise InvalidRequest(
            f"Too many tools: {len(tools)} were given, at most {MAX_TOOLS} are allowed",
            param="tools",
        )
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if isinstance(tool, BuiltinTool):
            raise InvalidRequest(
                f"Built-in tool type '{tool.type}' is not available on this server; "
                "declare a function tool instead",
                param=f"tools[{i}]",
            )
        fn = tool.function
        if not _NAME.fullmatch(fn.name):
            raise InvalidRequest(
                f"Function name was {fn.name} but must be a-z, A-Z, 0-9, or contain "
                "underscores and dashes, with a maximum length of 64.",
                param=f"tools[{i}].function.name",
            )
        if fn.name in seen:
            raise InvalidRequest(
                f"Function '{fn.name}' is declared twice", param=f"tools[{i}].function.name"
            )
        seen.add(fn.name)
        params = check_schema(
            fn.parameters or {"type": "object"},
            param=f"tools[{i}].function.parameters",
            what=f"The parameters of function '{fn.name}'",
        )
        kind = params.setdefault("type", "object")
        if kind != "object":
            raise InvalidRequest(
                f"The parameters of function '{fn.name}' must be a schema of type 'object', "
                f"not {kind!r}",
                param=f"tools[{i}].function.parameters",
            )
        specs.append(ToolSpec(fn.name, fn.description or "", params))
    return specs


def new_call_id() -> str:
    """A tool call id as Mistral makes them: 9 random characters [a-zA-Z0-9]."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(9))
