"""Tool calls and structured outputs over HTTP, on the scripted fake engine."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import local_app
from tests.fakes import fake_engine, fake_registry

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
USER = [{"role": "user", "content": "Weather in Paris?"}]


def client_for(script: str, tmp_path: Path) -> Iterator[TestClient]:
    engine, _ = fake_engine(script.encode(), context=4096)
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        yield client


@pytest.fixture
def calling(tmp_path: Path) -> Iterator[TestClient]:
    yield from client_for(CALL + "\n" + CALL.replace("Paris", "Lyon"), tmp_path)


@pytest.fixture
def jsonish(tmp_path: Path) -> Iterator[TestClient]:
    yield from client_for('{"answer": 42}', tmp_path)


def post(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    r = client.post(
        "/v1/chat/completions",
        json={"model": "fake-model", "messages": USER, "temperature": 0, **body},
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_tool_calls_come_back_with_ids_and_string_arguments(calling: TestClient) -> None:
    (choice,) = post(calling, tools=TOOLS)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == ""
    calls = message["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"city": "Lyon"},
    ]
    assert [c["index"] for c in calls] == [0, 1]
    for c in calls:
        assert c["type"] == "function" and c["function"]["name"] == "get_weather"
        assert len(c["id"]) == 9 and c["id"].isalnum()


def test_parallel_tool_calls_false_stops_after_one_call(calling: TestClient) -> None:
    (choice,) = post(calling, tools=TOOLS, parallel_tool_calls=False)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert len(choice["message"]["tool_calls"]) == 1


def test_tool_choice_none_never_parses_a_call(calling: TestClient) -> None:
    (choice,) = post(calling, tools=TOOLS, tool_choice="none", max_tokens=20)["choices"]
    assert choice["message"]["tool_calls"] is None
    assert choice["message"]["content"].startswith("<tool_call>")


def test_streamed_tool_calls_arrive_whole_in_one_chunk_each(calling: TestClient) -> None:
    payload = {
        "model": "fake-model",
        "messages": USER,
        "stream": True,
        "temperature": 0,
        "tools": TOOLS,
    }
    with calling.stream("POST", "/v1/chat/completions", json=payload) as r:
        raw = r.read().decode()
    events = [
        json.loads(e.removeprefix("data: ")) for e in raw.split("\n\n") if e and e != "data: [DONE]"
    ]
    deltas = [e["choices"][0]["delta"] for e in events]
    with_calls = [d["tool_calls"] for d in deltas if d.get("tool_calls")]
    assert [len(c) for c in with_calls] in ([1, 1], [2])
    calls = [c for group in with_calls for c in group]
    assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Lyon"]
    assert [c["index"] for c in calls] == [0, 1]
    assert all(not d.get("content") for d in deltas)
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens"] > 0


def test_a_call_cut_by_max_tokens_is_dropped_and_never_leaks_markup(calling: TestClient) -> None:
    # One byte per token: the first call fits, the second is cut after '\n<tool_call>\n{"na'.
    limit = len(CALL) + 15
    (choice,) = post(calling, tools=TOOLS, max_tokens=limit)["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == ""
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["get_weather"]
    payload = {"model": "fake-model", "messages": USER, "stream": True, "temperature": 0}
    body = {**payload, "tools": TOOLS, "max_tokens": limit}
    with calling.stream("POST", "/v1/chat/completions", json=body) as r:
        raw = r.read().decode()
    events = [
        json.loads(e.removeprefix("data: ")) for e in raw.split("\n\n") if e and e != "data: [DONE]"
    ]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert "".join(d.get("content", "") for d in deltas) == ""
    assert sum(len(d.get("tool_calls", [])) for d in deltas) == 1
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_a_required_call_rambling_to_the_budget_still_comes_back_whole(tmp_path: Path) -> None:
    rambling = CALL.replace("Paris", "Paris " * 40)
    shortest = CALL.replace("Paris", "")  # one byte per token
    for client in client_for(rambling, tmp_path):
        for stream in (False, True):
            body = {"model": "fake-model", "messages": USER, "temperature": 0, "stream": stream}
            body |= {"tools": TOOLS, "tool_choice": "any", "max_tokens": len(shortest) + 12}
            r = client.post("/v1/chat/completions", json=body)
            events = (
                [json.loads(e[6:]) for e in r.text.split("\n\n") if e and e != "data: [DONE]"]
                if stream
                else [r.json()]
            )
            calls = [
                c
                for e in events
                for c in (e["choices"][0].get("delta") or e["choices"][0]["message"]).get(
                    "tool_calls"
                )
                or []
            ]
            assert len(calls) == 1
            city = json.loads(calls[0]["function"]["arguments"])["city"]
            assert city.startswith("Paris") and len(city) <= 12
            assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_max_tokens_below_the_shortest_valid_reply_is_a_400(tmp_path: Path) -> None:
    shortest = CALL.replace("Paris", "")
    for client in client_for(CALL, tmp_path):
        body = {"model": "fake-model", "messages": USER, "tools": TOOLS, "tool_choice": "any"}
        r = client.post("/v1/chat/completions", json={**body, "max_tokens": len(shortest) - 1})
        assert r.status_code == 400
        error = r.json()
        assert error["object"] == "error" and error["param"] == "max_tokens"
        assert f"takes {len(shortest)} tokens" in error["message"]
        r = client.post("/v1/chat/completions", json={**body, "max_tokens": len(shortest)})
        assert r.status_code == 200
        (call,) = r.json()["choices"][0]["message"]["tool_calls"]
        assert json.loads(call["function"]["arguments"]) == {"city": ""}


def test_round_trip_with_sdk_style_null_ids_and_object_arguments(calling: TestClient) -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "null", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "name": "get_weather", "content": "18C", "tool_call_id": "null"},
    ]
    body = post(calling, tools=TOOLS, messages=messages)
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_json_schema_output_is_plain_string_content(jsonish: TestClient) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}}
    (choice,) = post(jsonish, response_format=fmt)["choices"]
    assert json.loads(choice["message"]["content"]) == {"answer": 42}
    assert choice["finish_reason"] == "stop"


def test_json_schema_bends_output_that_would_break_it(jsonish: TestClient) -> None:
    # The scripted model wants {"answer": 42}; the schema wants a string: the grammar wins.
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 3}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}}
    (choice,) = post(jsonish, response_format=fmt, max_tokens=40)["choices"]
    value = json.loads(choice["message"]["content"])
    assert isinstance(value["answer"], str) and len(value["answer"]) <= 3


def test_unenforceable_keyword_is_named_in_the_400(jsonish: TestClient) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": {"type": "array", "uniqueItems": True}},
    }
    r = jsonish.post(
        "/v1/chat/completions",
        json={"model": "fake-model", "messages": USER, "response_format": fmt},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["param"] == "response_format.json_schema.schema"
    assert "uniqueItems" in body["message"]


def test_unknown_named_tool_is_a_400(calling: TestClient) -> None:
    r = calling.post(
        "/v1/chat/completions",
        json={
            "model": "fake-model",
            "messages": USER,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
    )
    assert r.status_code == 400
    assert "nope" in r.json()["message"]


def test_calls_released_together_keep_distinct_indexes(calling: TestClient) -> None:
    # A stop string that matches the whole reply but its last character holds every token
    # back until the end, so both calls reach the parser in one piece.
    held = CALL + "\n" + CALL.replace("Paris", "Lyon") + "!"
    for stream in (False, True):
        body = {
            "model": "fake-model",
            "messages": USER,
            "temperature": 0,
            "tools": TOOLS,
            "stop": [held],
            "stream": stream,
        }
        with calling.stream("POST", "/v1/chat/completions", json=body) as r:
            raw = r.read().decode()
        if stream:
            events = [
                json.loads(e.removeprefix("data: "))
                for e in raw.split("\n\n")
                if e and e != "data: [DONE]"
            ]
            calls = [c for e in events for c in e["choices"][0]["delta"].get("tool_calls") or []]
        else:
            calls = json.loads(raw)["choices"][0]["message"]["tool_calls"]
        assert [c["index"] for c in calls] == [0, 1]
        assert len({c["id"] for c in calls}) == 2
