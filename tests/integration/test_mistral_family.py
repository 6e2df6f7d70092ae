"""Mistral, Mixtral and Codestral architectures served end to end, with the real SDK.

The models are tiny random-weight GGUFs with Mistral's real tokenizers: their words are
nonsense, but prompts, control tokens, grammars, FIM and the wire are the real thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mistralai import Mistral
from mistralai.models import SDKError

from tests.server import start_server, stop_server

pytestmark = pytest.mark.model

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 12}},
                "required": ["city"],
            },
        },
    }
]


def serve(path: Path) -> Iterator[Mistral]:
    proc, srv = start_server(
        "--model", str(path), "--parallel", "2", "--ctx-size", "1024", "--threads", "1"
    )
    try:
        yield Mistral(api_key="any", server_url=srv.url)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def mistral(dense_v3: Path) -> Iterator[Mistral]:
    yield from serve(dense_v3)


@pytest.fixture(scope="module")
def mixtral(mixtral_v3: Path) -> Iterator[Mistral]:
    yield from serve(mixtral_v3)


@pytest.fixture(scope="module")
def codestral(codestral_tekken: Path) -> Iterator[Mistral]:
    yield from serve(codestral_tekken)


@pytest.mark.parametrize("client_name", ["mistral", "mixtral", "codestral"])
def test_chat_and_stream_agree(client_name: str, request: pytest.FixtureRequest) -> None:
    client: Mistral = request.getfixturevalue(client_name)
    args = dict(model="mistral-small-latest", messages=USER, max_tokens=12, temperature=0)
    r = client.chat.complete(**args)  # type: ignore[arg-type]
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 12
    chunks = list(client.chat.stream(**args))  # type: ignore[arg-type]
    text = "".join(c.data.choices[0].delta.content or "" for c in chunks)  # type: ignore[misc]
    assert text == r.choices[0].message.content


@pytest.mark.parametrize("client_name", ["mistral", "codestral"])
def test_forced_tool_call_is_valid(client_name: str, request: pytest.FixtureRequest) -> None:
    """A random model cannot call tools on its own: the grammar makes it, in [TOOL_CALLS]."""
    client: Mistral = request.getfixturevalue(client_name)
    for seed in range(3):
        r = client.chat.complete(
            model="mistral-small-latest",
            messages=USER,
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="any",
            max_tokens=64,
            random_seed=seed,
        )
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        calls = choice.message.tool_calls or []
        assert calls and all(c.function.name == "get_weather" for c in calls)
        for call in calls:
            args = json.loads(call.function.arguments)  # type: ignore[arg-type]
            assert set(args) == {"city"} and isinstance(args["city"], str)
            assert len(call.id) == 9


@pytest.mark.parametrize("client_name", ["mistral", "mistral_v11"])
def test_a_forced_call_gets_its_room_or_a_400_and_leaks_no_markup(
    client_name: str, request: pytest.FixtureRequest
) -> None:
    client: Mistral = request.getfixturevalue(client_name)
    args: dict[str, Any] = dict(
        model="mistral-small-latest",
        messages=USER,
        tools=TOOLS,
        tool_choice="any",
        max_tokens=4,  # [TOOL_CALLS] and the first few characters of the call
        random_seed=0,
    )
    with pytest.raises(SDKError) as e:
        client.chat.complete(**args)
    assert e.value.status_code == 400
    error = json.loads(e.value.body)
    assert error["param"] == "max_tokens" and "shortest reply" in error["message"]
    # The shortest call fits in the minimum the error names: it comes back whole.
    args["max_tokens"] = int(error["message"].split(" takes ")[1].split()[0])
    choice = client.chat.complete(**args).choices[0]
    assert choice.message.content == "" and choice.message.tool_calls
    assert json.loads(str(choice.message.tool_calls[0].function.arguments)).keys() >= {"city"}
    chunks = list(client.chat.stream(**args))
    deltas = [c.data.choices[0].delta for c in chunks]
    assert "".join(d.content or "" for d in deltas) == ""  # type: ignore[misc]
    assert any(d.tool_calls for d in deltas)
    assert chunks[-1].data.choices[0].finish_reason in ("length", "tool_calls")


def test_tool_round_trip_on_a_mistral_model(mistral: Mistral) -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "abcDEF123",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "22C", "tool_call_id": "abcDEF123", "name": "get_weather"},
    ]
    r = mistral.chat.complete(
        model="mistral-small-latest",
        messages=messages,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="none",
        max_tokens=8,
    )
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason in ("stop", "length")


def test_fim_complete_and_stream(codestral: Mistral) -> None:
    args = dict(
        model="mistral-small-latest",
        prompt="def add(a, b):\n    return",
        suffix="\n\nprint(add(1, 2))",
        max_tokens=10,
        min_tokens=10,
        temperature=0,
    )
    r = codestral.fim.complete(**args)  # type: ignore[arg-type]
    assert r.object == "chat.completion"
    assert r.usage.completion_tokens == 10  # min_tokens holds the end token back
    assert r.choices[0].finish_reason == "length"
    chunks = list(codestral.fim.stream(**args))  # type: ignore[arg-type]
    text = "".join(c.data.choices[0].delta.content or "" for c in chunks)  # type: ignore[misc]
    assert text == r.choices[0].message.content
    assert chunks[-1].data.usage is not None


def test_cards_say_which_models_fill_in_the_middle(codestral: Mistral, mistral: Mistral) -> None:
    def fim(client: Mistral) -> bool:
        card = client.models.retrieve(model_id="mistral-small-latest")
        return bool(card.capabilities.completion_fim)

    assert fim(codestral) and not fim(mistral)


def test_fim_on_a_model_without_fim_is_a_400(mistral: Mistral) -> None:
    with pytest.raises(SDKError) as e:
        mistral.fim.complete(model="mistral-small-latest", prompt="def f(", max_tokens=4)
    assert e.value.status_code == 400
    body = json.loads(e.value.body)
    assert "fill-in-the-middle" in body["message"] and body["param"] == "model"


def test_named_tool_choice_and_auto_on_a_mistral_model(mistral: Mistral) -> None:
    tools = [
        *TOOLS,
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "Time in a city",
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]
    named = mistral.chat.complete(
        model="mistral-small-latest",
        messages=USER,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,  # a random model would chain calls up to max_tokens
        max_tokens=32,
    )
    calls = named.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time"]
    auto = mistral.chat.complete(
        model="mistral-small-latest",
        messages=USER,
        tools=tools,
        max_tokens=24,
        temperature=0,  # type: ignore[arg-type]
    )
    choice = auto.choices[0]
    for call in choice.message.tool_calls or []:
        assert call.function.name in ("get_weather", "get_time")
    if not choice.message.tool_calls:
        assert "[TOOL_CALLS]" not in str(choice.message.content)


def test_json_schema_reply_on_a_mistral_model(mixtral: Mistral) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 10}, "n": {"type": "integer"}},
        "required": ["answer", "n"],
    }
    r = mixtral.chat.complete(
        model="mistral-small-latest",
        messages=USER,
        response_format={  # type: ignore[arg-type]
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema},
        },
        max_tokens=48,
        random_seed=1,
    )
    reply = json.loads(r.choices[0].message.content)  # type: ignore[arg-type]
    assert set(reply) == {"answer", "n"} and isinstance(reply["n"], int)


@pytest.fixture(scope="module")
def mistral_v11(dense_v11: Path, v11_tokenizer: Path) -> Iterator[Mistral]:
    proc, srv = start_server(
        "--model", str(dense_v11), "--parallel", "2", "--ctx-size", "1024", "--threads", "1",
        env={"AUTAN_MODEL__TOKENIZER": str(v11_tokenizer)},
    )  # fmt: skip
    try:
        yield Mistral(api_key="any", server_url=srv.url)
    finally:
        stop_server(proc)


def test_v11_tool_calls_one_per_marker(mistral_v11: Mistral) -> None:
    """Tokenizer v11 writes ``[TOOL_CALLS]name[ARGS]{...}``; calls come back parsed and valid."""
    for seed, parallel in ((0, True), (1, True), (2, False)):
        r = mistral_v11.chat.complete(
            model="mistral-small-latest",
            messages=USER,
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            parallel_tool_calls=parallel,
            max_tokens=96,
            random_seed=seed,
        )
        choice = r.choices[0]
        calls = choice.message.tool_calls or []
        if choice.finish_reason == "length" and parallel:
            continue  # a random model may chain parallel calls until max_tokens
        assert choice.finish_reason == "tool_calls" and calls
        assert parallel or len(calls) == 1
        for call in calls:
            assert call.function.name == "get_weather"
            assert set(json.loads(call.function.arguments)) == {"city"}  # type: ignore[arg-type]
