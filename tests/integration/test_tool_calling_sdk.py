"""Function calling and structured outputs through the official SDKs, on the real model.

The tool_choice x parallel_tool_calls x streaming matrix checks each guarantee the grammar
gives: ``none`` never calls, ``any``/``required``/named always call (the named tool), and
``parallel_tool_calls: false`` calls at most once.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from mistralai import Mistral
from pydantic import BaseModel

from tests.server import Server

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "maxLength": 40}},
            "required": ["timezone"],
        },
    },
}
TOOLS = [WEATHER, TIME]
ASK = [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}]
CHOICES: list[Any] = [
    "auto",
    "none",
    "any",
    "required",
    {"type": "function", "function": {"name": "get_time"}},
]


@pytest.fixture(scope="module")
def mistral(server: Server) -> Mistral:
    return Mistral(api_key="any-key", server_url=server.url)


def _calls_and_finish(
    client: Mistral, *, stream: bool, **args: Any
) -> tuple[list[Any], str | None, str]:
    if not stream:
        choice = client.chat.complete(**args).choices[0]
        return list(choice.message.tool_calls or []), choice.finish_reason, choice.message.content
    calls: list[Any] = []
    content, finish = "", None
    for event in client.chat.stream(**args):
        choice = event.data.choices[0]
        calls += choice.delta.tool_calls or []
        content += choice.delta.content or ""  # type: ignore[operator]
        finish = choice.finish_reason or finish
    return calls, finish, content


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "single"])
@pytest.mark.parametrize("choice", CHOICES, ids=["auto", "none", "any", "required", "named"])
def test_tool_choice_matrix(mistral: Mistral, choice: Any, parallel: bool, stream: bool) -> None:
    calls, finish, content = _calls_and_finish(
        mistral,
        stream=stream,
        model=MODEL,
        messages=ASK,
        tools=TOOLS,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        temperature=0,
        max_tokens=160,
    )
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    if choice == "none":
        assert not calls and finish in ("stop", "length") and content
        return
    if choice != "auto":
        assert calls, f"tool_choice {choice} gave no call: {content!r}"
    if calls:
        assert finish == "tool_calls" and content == ""
    if isinstance(choice, dict):
        assert {c.function.name for c in calls} == {"get_time"}
    if not parallel:
        assert len(calls) <= 1
    for i, call in enumerate(calls):
        assert len(call.id) == 9 and call.id.isalnum()
        assert call.index == i
        args = json.loads(call.function.arguments)
        required = schemas[call.function.name]["required"]
        assert set(required) <= set(args) <= set(schemas[call.function.name]["properties"])


def test_round_trip_tool_result_back_to_the_model(mistral: Mistral) -> None:
    first = mistral.chat.complete(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="any", temperature=0
    )
    message = first.choices[0].message
    (call,) = message.tool_calls[:1] if message.tool_calls else [None]
    assert call is not None
    messages: list[Any] = [
        *ASK,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {
            "role": "tool",
            "name": call.function.name,
            "content": "18C, sunny",
            "tool_call_id": call.id,
        },
    ]
    # The SDK's default id "null" and object arguments are accepted on the way back too.
    loose: list[Any] = [
        *ASK,
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "name": "get_weather", "content": "18C, sunny"},
    ]
    for history in (messages, loose):
        reply = mistral.chat.complete(
            model=MODEL, messages=history, tools=[WEATHER], tool_choice="none", max_tokens=40
        )
        assert reply.choices[0].message.content
        assert not reply.choices[0].message.tool_calls


class City(BaseModel):
    # mistralai 1.x's strict-schema helper cannot take numeric keywords (maxLength, ge...):
    # fields stay plain, as most users write them.
    name: str
    country: str
    is_capital: bool


def test_mistral_chat_parse_with_a_pydantic_model(mistral: Mistral) -> None:
    r = mistral.chat.parse(
        response_format=City,
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        temperature=0,
        max_tokens=120,
    )
    parsed = r.choices[0].message.parsed  # type: ignore[union-attr]
    assert isinstance(parsed, City)


def test_mistral_json_object_mode_parses(mistral: Mistral) -> None:
    r = mistral.chat.complete(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply in JSON: the name and color of a cat."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=200,
    )
    assert r.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(r.choices[0].message.content), dict)  # type: ignore[arg-type]


def test_openai_parse_and_required_tool_stream(server: Server) -> None:
    client = openai.OpenAI(api_key="any-key", base_url=server.v1)
    parsed = client.beta.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Rome as JSON."}],
        response_format=City,
        temperature=0,
        max_tokens=120,
    )
    assert isinstance(parsed.choices[0].message.parsed, City)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=ASK,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
        temperature=0,
        stream=True,
    )
    calls = [c for chunk in stream for c in (chunk.choices[0].delta.tool_calls or [])]
    assert calls and all(
        c.function and c.function.name in ("get_weather", "get_time") for c in calls
    )
    for c in calls:
        assert c.function is not None and isinstance(json.loads(c.function.arguments or ""), dict)
