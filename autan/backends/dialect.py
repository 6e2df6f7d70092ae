"""The Mistral API and the OpenAI API, translated field by field, both ways.

A routed request is checked as autan's own, then written in the deployment's dialect: nothing
is passed through blindly. What a dialect cannot carry is a 400 naming the field, never a
silent downgrade. Replies are read back into the Mistral shape (``upstream_reply``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from autan.chat.prompt import SAFE_PROMPT
from autan.errors import InvalidRequest
from autan.models.card import StructuredOutputs
from autan.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ImageURLChunk,
    Message,
    NamedToolChoice,
    SystemMessage,
    TextChunk,
    ToolMessage,
    UserMessage,
)
from autan.protocol.embeddings import EmbeddingRequest
from autan.protocol.fim import FIMCompletionRequest

DialectName = Literal["openai", "mistral"]

# OpenAI's finish reasons in Mistral's words; anything unknown ended the reply abnormally.
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "model_length": "model_length",
    "error": "error",
    "eos": "stop",
}


def finish_reason(upstream: object) -> str:
    return _FINISH.get(str(upstream), "error")


def chat_body(
    dialect: DialectName,
    req: ChatCompletionRequest,
    upstream_model: str,
    structured: StructuredOutputs = "json_schema",
) -> dict[str, Any]:
    """The upstream request body for ``req`` (always streamed: first-token and between-token
    timeouts, and a disconnect that frees the upstream slot at once, need it)."""
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": [_message(dialect, m, i) for i, m in enumerate(req.messages)],
        "stream": True,
    }
    if req.safe_prompt:
        body["messages"] = _with_safe_prompt(body["messages"])
    for field in ("temperature", "top_p", "max_tokens", "stop", "presence_penalty"):
        value = getattr(req, field)
        if value is not None:
            body[field] = value
    if req.frequency_penalty is not None:
        body["frequency_penalty"] = req.frequency_penalty
    if req.n is not None:
        body["n"] = req.n
    if req.random_seed is not None:
        body["seed" if dialect == "openai" else "random_seed"] = req.random_seed
    fmt = req.response_format
    if fmt is not None and fmt.type != "text" and structured != "none":
        if fmt.json_schema is not None and structured == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": fmt.json_schema.schema_}
        else:
            body["response_format"] = fmt.model_dump(by_alias=True, exclude_none=True)
    functions = [t for t in req.tools or [] if getattr(t, "function", None) is not None]
    if functions:
        body["tools"] = [t.model_dump(exclude_none=True) for t in functions]
        body["tool_choice"] = _tool_choice(dialect, req)
        body["parallel_tool_calls"] = req.parallel_tool_calls
    last = req.messages[-1]
    if isinstance(last, AssistantMessage) and last.prefix and dialect == "openai":
        # vLLM's way to continue the last assistant message rather than start a new one.
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    if dialect == "openai":
        body["stream_options"] = {"include_usage": True}
    return body


def _tool_choice(dialect: DialectName, req: ChatCompletionRequest) -> Any:
    choice = req.tool_choice
    if isinstance(choice, NamedToolChoice):
        return choice.model_dump()
    if dialect == "openai" and choice == "any":
        return "required"
    if dialect == "mistral" and choice == "required":
        return "any"
    return choice


def _with_safe_prompt(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system" and isinstance(messages[0]["content"], str):
        first = {**messages[0], "content": f"{SAFE_PROMPT}\n\n{messages[0]['content']}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": SAFE_PROMPT}, *messages]


def _message(dialect: DialectName, msg: Message, index: int) -> dict[str, Any]:
    where = f"messages[{index}].content"
    if isinstance(msg, SystemMessage | UserMessage):
        return {"role": msg.role, "content": _content(dialect, msg.content, where)}
    if isinstance(msg, ToolMessage):
        out: dict[str, Any] = {
            "role": "tool",
            "content": _content(dialect, msg.content, where) or "",
            "tool_call_id": msg.tool_call_id,
        }
        if dialect == "mistral" and msg.name is not None:
            out["name"] = msg.name
        return out
    assert isinstance(msg, AssistantMessage)
    out = {"role": "assistant", "content": _content(dialect, msg.content, where)}
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments
                    if isinstance(call.function.arguments, str)
                    else json.dumps(call.function.arguments),
                },
            }
            for call in msg.tool_calls
        ]
    if msg.prefix and dialect == "mistral":
        out["prefix"] = True
    return out


def _content(dialect: DialectName, content: Any, where: str) -> Any:
    if content is None or isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for chunk in content:
        if isinstance(chunk, TextChunk):
            parts.append({"type": "text", "text": chunk.text})
        elif isinstance(chunk, ImageURLChunk):
            url = chunk.image_url if isinstance(chunk.image_url, str) else chunk.image_url.url
            parts.append(
                {"type": "image_url", "image_url": url if dialect == "mistral" else {"url": url}}
            )
        elif dialect == "mistral":
            parts.append(chunk.model_dump(exclude_none=True))
        else:
            raise InvalidRequest(
                f"Content chunks of type '{chunk.type}' cannot be sent to an OpenAI-compatible "
                "deployment; send text or image_url chunks",
                param=where,
            )
    return parts


def fim_body(
    dialect: DialectName, req: FIMCompletionRequest, upstream_model: str
) -> tuple[str, dict[str, Any]]:
    """The path and body of a fill-in-the-middle request: Mistral's ``/fim/completions``, or
    OpenAI's text ``/completions`` with ``suffix`` (llama-server, llama-cpp-python, vLLM)."""
    body: dict[str, Any] = {"model": upstream_model, "prompt": req.prompt, "stream": True}
    if req.suffix:
        body["suffix"] = req.suffix
    for field in ("temperature", "top_p", "max_tokens", "stop"):
        value = getattr(req, field)
        if value is not None:
            body[field] = value
    if req.random_seed is not None:
        body["seed" if dialect == "openai" else "random_seed"] = req.random_seed
    if dialect == "mistral":
        if req.min_tokens is not None:
            body["min_tokens"] = req.min_tokens
        return "/fim/completions", body
    if req.min_tokens:
        body["min_tokens"] = req.min_tokens  # vLLM's extension; others ignore it
    body["stream_options"] = {"include_usage": True}
    return "/completions", body


def embedding_body(
    dialect: DialectName, req: EmbeddingRequest, upstream_model: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": upstream_model, "input": req.input}
    if req.output_dimension is not None:
        body["dimensions" if dialect == "openai" else "output_dimension"] = req.output_dimension
    if req.output_dtype != "float":
        if dialect == "openai":
            raise InvalidRequest(
                f"output_dtype '{req.output_dtype}' cannot be asked of an OpenAI-compatible "
                "deployment; use 'float'",
                param="output_dtype",
            )
        body["output_dtype"] = req.output_dtype
    if req.encoding_format != "float":
        body["encoding_format"] = req.encoding_format
    return body


def error_message(body: bytes) -> str:
    """The message of an upstream error body, in either dialect (or FastAPI's ``detail``)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(data, Mapping):
        inner = data.get("error")
        if isinstance(inner, Mapping) and "message" in inner:
            return str(inner["message"])[:500]
        if isinstance(inner, str):
            return inner[:500]
        for key in ("message", "detail"):
            if key in data:
                value = data[key]
                return (value if isinstance(value, str) else json.dumps(value))[:500]
    return text[:500]
