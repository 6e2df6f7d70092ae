"""What one ``autan chat`` session holds: the model, its settings and the conversation; saved
to and loaded from a JSON file with ``/save`` and ``/load``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Enough for a long answer, and a stop for a small model that loops: without it a reply runs
# until the context is full.
DEFAULT_MAX_TOKENS = 1024


@dataclass
class ChatSession:
    model: str
    system: str | None = None
    temperature: float | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    json_mode: bool = False
    tools: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def request(self) -> dict[str, Any]:
        """The chat request body for the conversation so far."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        body: dict[str, Any] = {
            "model": self.model,
            "messages": system + self.messages,
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        if self.tools:
            body["tools"] = self.tools
        return body

    def pending_tool_calls(self) -> list[dict[str, Any]]:
        """The last reply's tool calls still waiting for their results."""
        if not self.messages or self.messages[-1]["role"] != "assistant":
            return []
        return list(self.messages[-1].get("tool_calls") or [])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> ChatSession:
        """A session saved by ``save``; raises ValueError when the file is not one."""
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not JSON: {e}") from e
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise ValueError(f"{path} is not a saved chat (no messages list)")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as e:
            raise ValueError(f"{path} is not a saved chat: {e}") from e


def load_tools(path: Path) -> list[dict[str, Any]]:
    """Tools from a JSON file: a list of Mistral tools, or of bare functions."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON: {e}") from e
    if isinstance(data, dict):
        data = data.get("tools", [data])
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise ValueError(f"{path} holds no list of tools")
    tools = [t if "function" in t else {"type": "function", "function": t} for t in data]
    for tool in tools:
        if not isinstance(tool["function"], dict) or "name" not in tool["function"]:
            raise ValueError(f"{path}: every tool needs a function with a name")
    return tools
