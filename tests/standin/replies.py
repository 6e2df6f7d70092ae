"""Bodies in the Mistral wire format (which OpenAI clients read too): chat and FIM completions,
whole and as server-sent events, embeddings, model cards and error envelopes."""

from __future__ import annotations

import itertools
import json
import math
import random
import string
import time
import zlib
from dataclasses import dataclass
from typing import Any

from tests.standin.schema_instance import instance_of

WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ". "]
MODEL_IDS = ["mistral-small-latest", "mistral-large-latest", "codestral-latest", "mistral-embed"]
EMBEDDING_DIMENSION = 1024
_ALNUM = string.ascii_letters + string.digits
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}
_ids = itertools.count(1)


class InvalidRequest(Exception):
    """A request the real API would refuse: answered with ``status`` and the error envelope."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def error_body(status: int, message: str) -> bytes:
    body = {
        "object": "error",
        "message": message,
        "type": _ERROR_TYPES.get(status, "server_error"),
        "param": None,
        "code": str(status),
    }
    return json.dumps(body).encode()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class Answer:
    """What the "model" says: text pieces (one per token) or tool calls, and the usage."""

    pieces: list[str]
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces) + (8 * len(self.tool_calls) if self.tool_calls else 0)

    @property
    def usage(self) -> dict[str, int]:
        done = self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": done,
            "total_tokens": self.prompt_tokens + done,
        }


def _prompt_tokens(text_len: int) -> int:
    return max(1, text_len // 4)


def _text_pieces(tokens: int, max_tokens: Any) -> tuple[list[str], str]:
    n, finish = tokens, "stop"
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens < tokens:
        n, finish = max(max_tokens, 0), "length"
    return [WORDS[i % len(WORDS)] for i in range(n)], finish


def _split(text: str, parts: int) -> list[str]:
    size = max(1, math.ceil(len(text) / max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def tool_call_id() -> str:
    n, out = next(_ids), []
    for _ in range(9):
        n, r = divmod(n, len(_ALNUM))
        out.append(_ALNUM[r])
    return "".join(reversed(out))


def chat_answer(body: Any, tokens: int, broken: bool) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidRequest("the body is a JSON object with a string `model`")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("`messages` is a non-empty list")
    prompt = _prompt_tokens(len(json.dumps(messages)))
    tool = _forced_tool(body.get("tools"), body.get("tool_choice"))
    if tool is not None:
        arguments = instance_of(tool.get("parameters") or {}, broken=broken)
        call = {
            "id": tool_call_id(),
            "type": "function",
            "function": {"name": tool["name"], "arguments": json.dumps(arguments)},
            "index": 0,
        }
        return Answer([], [call], "tool_calls", prompt)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        text = json.dumps(instance_of(schema, broken=broken))
        return Answer(_split(text, tokens), None, "stop", prompt)
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return Answer(_split('{"answer": "text"}', tokens), None, "stop", prompt)
    pieces, finish = _text_pieces(tokens, body.get("max_tokens", body.get("max_completion_tokens")))
    return Answer(pieces, None, finish, prompt)


def _forced_tool(tools: Any, choice: Any) -> dict[str, Any] | None:
    """The function a request forces a call to: the first for "any"/"required", or the named one."""
    if not isinstance(tools, list) or not tools:
        return None
    functions = [t.get("function") for t in tools if isinstance(t, dict)]
    functions = [f for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)]
    if choice in ("any", "required"):
        if not functions:
            raise InvalidRequest("`tools` holds no function with a name")
        return functions[0]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        for f in functions:
            if f["name"] == name:
                return f
        raise InvalidRequest(f"tool_choice names {name!r}, which is not in `tools`")
    return None


def fim_answer(body: Any, tokens: int) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidRequest("the body is a JSON object with a string `model`")
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidRequest("`prompt` is a string")
    suffix = body.get("suffix") or ""
    pieces, finish = _text_pieces(tokens, body.get("max_tokens"))
    return Answer(pieces, None, finish, _prompt_tokens(len(prompt) + len(str(suffix))))


def completion(answer: Answer, model: str, completion_id: str) -> bytes:
    message = {
        "role": "assistant",
        "content": "".join(answer.pieces),
        "tool_calls": answer.tool_calls,
        "prefix": False,
    }
    return _dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "model": model,
            "created": int(time.time()),
            "usage": answer.usage,
            "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        }
    )


def completion_events(
    answer: Answer, model: str, completion_id: str, openai_usage: bool
) -> list[bytes]:
    """The SSE events of a streamed completion, ``data: [DONE]`` last. The first delta has the
    role and empty content; the last chunk has the finish reason and, Mistral's way, the usage.
    With ``openai_usage`` (a request's ``stream_options.include_usage``) the usage comes as
    OpenAI sends it instead: in one more chunk with no choices."""
    created = int(time.time())
    head = f'data: {{"id":"{completion_id}","object":"chat.completion.chunk","created":{created},'
    head += f'"model":{json.dumps(model)},"choices":[{{"index":0,"delta":'
    tail = ',"finish_reason":null}],"usage":null}\n\n'
    events = [(head + '{"role":"assistant","content":""}' + tail).encode()]
    final: dict[str, Any]
    if answer.tool_calls:
        final = {"content": "", "tool_calls": answer.tool_calls}
        middle = []
    else:
        final = {"content": answer.pieces[-1] if answer.pieces else ""}
        middle = answer.pieces[:-1]
    events += [(head + '{"content":' + json.dumps(p) + "}" + tail).encode() for p in middle]
    last_usage = "null" if openai_usage else json.dumps(answer.usage, separators=(",", ":"))
    events.append(
        (
            head
            + json.dumps(final, separators=(",", ":"))
            + f',"finish_reason":"{answer.finish_reason}"}}],"usage":{last_usage}}}\n\n'
        ).encode()
    )
    if openai_usage:
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": answer.usage,
        }
        events.append(b"data: " + _dumps(usage_chunk) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def embeddings(body: Any) -> bytes:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidRequest("the body is a JSON object with a string `model`")
    inputs = body.get("input", body.get("inputs"))
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise InvalidRequest("`input` is a string or a non-empty list of strings")
    dimension = body.get("output_dimension") or body.get("dimensions") or EMBEDDING_DIMENSION
    if not isinstance(dimension, int) or not 0 < dimension <= 8192:
        raise InvalidRequest("`output_dimension` is an integer from 1 to 8192")
    data = [
        {"object": "embedding", "embedding": _vector(text, dimension), "index": i}
        for i, text in enumerate(inputs)
    ]
    tokens = sum(_prompt_tokens(len(t)) for t in inputs)
    usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
    return _dumps(
        {
            "id": f"emb-{next(_ids)}",
            "object": "list",
            "model": body["model"],
            "data": data,
            "usage": usage,
        }
    )


def _vector(text: str, dimension: int) -> list[float]:
    """A unit vector that depends only on the text."""
    rng = random.Random(zlib.crc32(text.encode()))
    values = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def model_card(model_id: str) -> dict[str, Any]:
    embed = "embed" in model_id
    return {
        "id": model_id,
        "object": "model",
        "created": 1700000000,
        "owned_by": "mistralai",
        "type": "base",
        "aliases": [],
        "max_context_length": 32768,
        "capabilities": {
            "completion_chat": not embed,
            "function_calling": not embed,
            "completion_fim": "codestral" in model_id,
            "fine_tuning": False,
            "vision": False,
            "classification": False,
        },
    }


def model_list(ids: list[str]) -> bytes:
    return _dumps({"object": "list", "data": [model_card(i) for i in ids]})


def next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):012x}"
