"""The packaged code model (Qwen2.5-Coder-0.5B-Instruct) through the official ``mistralai`` SDK.

It is served beside the packaged model when installed (``make code-model``, part of
``make dev``); these tests skip without it, and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from mistralai import Mistral

from autan.models.packaged import CODE_MODEL_NAME
from tests.integration.test_tool_calling_sdk import WEATHER
from tests.server import Server, require_code_model

pytestmark = pytest.mark.model

# The fibonacci example of Mistral's FIM documentation, indented by four spaces, with the stop
# its documentation gives for FIM (``stop=["\n\n"]``): the middle ends with the function body.
# (Indented by one space, greedy decoding on this model writes a body indented by two, which
# the one-space ``return result`` of the suffix cannot close.)
FIB_PROMPT = "def fibonacci(n):\n    "
FIB_SUFFIX = "\n    return result"
# Runs the filled-in function: fibonacci(10) as a number, or the sequence it returns.
FIB_CHECK = """
import json
print(json.dumps(fibonacci(10)))
"""
FIB_10 = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]
BOOK = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 80},
        "year": {"type": "integer", "minimum": 1400, "maximum": 2100},
        "genres": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
    },
    "required": ["title", "year", "genres"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(server: Server) -> Mistral:
    require_code_model()
    return Mistral(api_key="any-key", server_url=server.url)


def test_the_code_model_is_listed_with_fim_under_codestral_latest(client: Mistral) -> None:
    card = client.models.retrieve(model_id="codestral-latest")
    assert card.id == CODE_MODEL_NAME and card.aliases == ["codestral-latest"]
    assert card.capabilities.completion_fim and card.capabilities.function_calling
    assert card.capabilities.completion_chat


def test_fim_fills_in_a_correct_fibonacci(client: Mistral) -> None:
    r = client.fim.complete(
        model="codestral-latest",
        prompt=FIB_PROMPT,
        suffix=FIB_SUFFIX,
        temperature=0,
        max_tokens=200,
        stop=["\n\n"],
    )
    assert r.model == "codestral-latest"
    choice = r.choices[0]
    middle = choice.message.content
    assert isinstance(middle, str) and middle.strip()
    assert choice.finish_reason == "stop", middle
    source = FIB_PROMPT + middle + FIB_SUFFIX
    run = subprocess.run(
        [sys.executable, "-c", source + "\n" + FIB_CHECK],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert run.returncode == 0, f"{source}\n---\n{run.stderr}"
    value = json.loads(run.stdout)
    # fibonacci(10) is 55, or the function builds the sequence up to it
    assert value == 55 or value in (FIB_10[:10], FIB_10[1:], FIB_10), f"{source}\n-> {value}"


def test_fim_streams_the_same_middle(client: Mistral) -> None:
    args: dict[str, Any] = dict(
        model=CODE_MODEL_NAME,
        prompt="def add(a, b):\n    ",
        suffix="\n\nprint(add(1, 2))",
        temperature=0,
        max_tokens=24,
        stop=["\n\n"],
    )
    full = client.fim.complete(**args).choices[0].message.content
    chunks = list(client.fim.stream(**args))
    streamed = "".join(c.data.choices[0].delta.content or "" for c in chunks)  # type: ignore[misc]
    assert streamed == full and "return" in streamed


def test_tool_choice_any_calls_the_tool_with_valid_arguments(client: Mistral) -> None:
    r = client.chat.complete(
        model=CODE_MODEL_NAME,
        messages=[{"role": "user", "content": "What is the weather like in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="any",
        temperature=0,
        max_tokens=96,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and len(call.id) == 9
    arguments = call.function.arguments
    parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    jsonschema.validate(parsed, WEATHER["function"]["parameters"])  # type: ignore[index]
    assert "paris" in parsed["city"].lower()


def test_json_schema_reply_validates(client: Mistral) -> None:
    r = client.chat.complete(
        model="codestral-latest",
        messages=[{"role": "user", "content": "Describe a famous novel as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "book", "schema": BOOK, "strict": True},
        },
        temperature=0,
        max_tokens=160,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.content, str)
    jsonschema.validate(json.loads(choice.message.content), BOOK)
