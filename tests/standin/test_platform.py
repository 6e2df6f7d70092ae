"""The stand-in through HTTP, as gateways and SDKs see it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.standin.process import StandIn, running_platform

TOKENS = 5
CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "days": {"type": "integer", "minimum": 3},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "hourly": {"type": "boolean"},
    },
    "required": ["city", "days", "unit"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER}},
]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with running_platform("--tokens", str(TOKENS)) as s:
        yield s


@pytest.fixture
def client(standin: StandIn) -> Iterator[httpx.Client]:
    standin.behave()
    standin.clear_requests()
    with httpx.Client(base_url=standin.url, timeout=10) as c:
        yield c
    standin.behave()


def events(response: httpx.Response) -> list[Any]:
    """The data of each server-sent event, ``[DONE]`` as the string."""
    out = []
    for block in response.text.split("\n\n"):
        if block:
            assert block.startswith("data: "), block
            data = block.removeprefix("data: ")
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_chat_completion_has_the_mistral_shape(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "mistral-small-latest"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "The quick brown fox jumps"
    usage = body["usage"]
    assert usage["completion_tokens"] == TOKENS
    assert usage["total_tokens"] == usage["prompt_tokens"] + TOKENS


def test_max_tokens_cuts_the_reply_with_finish_reason_length(client: httpx.Client) -> None:
    body = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 2}).json()
    assert body["choices"][0]["message"]["content"] == "The quick"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


def test_stream_chunks_end_with_finish_reason_usage_and_done(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.headers["content-type"] == "text/event-stream"
    data = events(r)
    assert data[-1] == "[DONE]"
    chunks = data[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("finish_reason" in c["choices"][0] for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == TOKENS
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "The quick brown fox jumps"


def test_openai_fields_are_accepted_and_usage_comes_in_a_last_chunk_without_choices(
    client: httpx.Client,
) -> None:
    body = {
        **CHAT,
        "messages": [*CHAT["messages"], {"role": "assistant", "content": "Sure"}],
        "stream": True,
        "seed": 7,
        "stream_options": {"include_usage": True},
        "continue_final_message": True,
        "tools": TOOLS,
        "tool_choice": "required",
    }
    data = events(client.post("/v1/chat/completions", json=body))
    assert data[-1] == "[DONE]"
    assert data[-2]["choices"] == []
    assert data[-2]["usage"]["total_tokens"] > 0
    assert data[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert data[-3]["usage"] is None


@pytest.mark.parametrize("stream", [False, True])
def test_a_named_tool_choice_gets_one_call_with_arguments_valid_under_its_schema(
    client: httpx.Client, stream: bool
) -> None:
    choice = {"type": "function", "function": {"name": "weather"}}
    body = {**CHAT, "tools": TOOLS, "tool_choice": choice, "stream": stream}
    r = client.post("/v1/chat/completions", json=body)
    if stream:
        chunks = events(r)[:-1]
        calls = [t for c in chunks for t in c["choices"][0]["delta"].get("tool_calls") or []]
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        calls = r.json()["choices"][0]["message"]["tool_calls"]
        finish = r.json()["choices"][0]["finish_reason"]
    assert finish == "tool_calls"
    [call] = calls
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", call["id"])
    assert call["function"]["name"] == "weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER)


def test_tool_choice_any_calls_the_first_tool_and_auto_answers_in_text(
    client: httpx.Client,
) -> None:
    forced = client.post(
        "/v1/chat/completions", json={**CHAT, "tools": TOOLS, "tool_choice": "any"}
    )
    assert forced.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "noop"
    auto = client.post("/v1/chat/completions", json={**CHAT, "tools": TOOLS, "tool_choice": "auto"})
    assert auto.json()["choices"][0]["message"]["tool_calls"] is None


def test_a_tool_choice_naming_no_tool_is_refused(client: httpx.Client) -> None:
    choice = {"type": "function", "function": {"name": "missing"}}
    r = client.post("/v1/chat/completions", json={**CHAT, "tools": TOOLS, "tool_choice": choice})
    assert r.status_code == 422
    assert r.json()["object"] == "error"


def test_a_json_schema_response_format_gets_conforming_content(client: httpx.Client) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER, "strict": True}}
    r = client.post("/v1/chat/completions", json={**CHAT, "response_format": fmt})
    jsonschema.validate(json.loads(r.json()["choices"][0]["message"]["content"]), WEATHER)
    chunks = events(
        client.post("/v1/chat/completions", json={**CHAT, "response_format": fmt, "stream": True})
    )
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    jsonschema.validate(json.loads(text), WEATHER)


def test_break_schema_makes_arguments_and_content_violate_the_schema(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.behave(break_schema=True)
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}}
    content = client.post("/v1/chat/completions", json={**CHAT, "response_format": fmt}).json()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(content["choices"][0]["message"]["content"]), WEATHER)
    called = client.post(
        "/v1/chat/completions", json={**CHAT, "tools": TOOLS[1:], "tool_choice": "any"}
    )
    arguments = called.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(arguments), WEATHER)


def test_429_with_retry_after_for_the_next_count_requests_only(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.behave(status=429, retry_after=2, count=2)
    for _ in range(2):
        r = client.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "2"
        assert r.json()["type"] == "rate_limit_error"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_on_request(standin: StandIn, client: httpx.Client, status: int) -> None:
    standin.behave(status=status, count=1)
    r = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == status
    assert r.json()["object"] == "error"


def test_die_after_chunks_closes_the_stream_mid_way(standin: StandIn, client: httpx.Client) -> None:
    standin.behave(die_after_chunks=2, count=1)
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        for line in r.iter_lines():
            if line:
                received.append(line)
    assert len(received) == 2
    assert "[DONE]" not in received[-1]
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_delays_before_the_first_byte_and_between_chunks(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.behave(delay_ms=150, token_delay_ms=30, count=1)
    start = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
        first = None
        for _ in r.iter_raw():
            first = first or time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    assert first - start >= 0.15
    assert end - first >= 0.03 * TOKENS  # TOKENS + 2 events, TOKENS + 1 gaps


def test_requests_are_recorded_with_headers_and_bodies(
    standin: StandIn, client: httpx.Client
) -> None:
    client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-up"})
    client.post("/v1/embeddings", json={"model": "mistral-embed", "input": "a"})
    client.get("/health")
    recorded = standin.requests()
    assert [r["path"] for r in recorded] == ["/v1/chat/completions", "/v1/embeddings"]
    assert recorded[0]["headers"]["authorization"] == "Bearer sk-up"
    assert recorded[0]["body"] == CHAT
    assert recorded[1]["method"] == "POST"


def test_fim_embeddings_and_models(client: httpx.Client) -> None:
    fim = client.post(
        "/v1/fim/completions", json={"model": "codestral-latest", "prompt": "def f(", "suffix": ")"}
    )
    assert fim.json()["choices"][0]["message"]["content"] == "The quick brown fox jumps"
    fim_stream = events(
        client.post("/v1/fim/completions", json={"model": "c", "prompt": "x", "stream": True})
    )
    assert fim_stream[-1] == "[DONE]"
    emb = client.post(
        "/v1/embeddings",
        json={"model": "mistral-embed", "input": ["a", "b", "a"], "output_dimension": 8},
    ).json()
    vectors = [d["embedding"] for d in emb["data"]]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-4
    models = client.get("/v1/models").json()
    assert {"mistral-small-latest", "codestral-latest"} <= {m["id"] for m in models["data"]}
    assert all(m["type"] == "base" for m in models["data"])
    assert client.get("/v1/models/nope").status_code == 404


def test_bad_requests_get_the_error_envelope(standin: StandIn, client: httpx.Client) -> None:
    assert client.post("/v1/chat/completions", content=b"{").status_code == 400
    assert client.post("/v1/chat/completions", json={"model": "m"}).status_code == 422
    bad = client.post("/_standin/behaviour", json={"stauts": 500})
    assert bad.status_code == 422
    assert "stauts" in bad.json()["message"]


def test_the_mistral_and_openai_sdks_read_its_replies(standin: StandIn) -> None:
    from mistralai import Mistral
    from openai import OpenAI

    mistral = Mistral(api_key="k", server_url=standin.url)
    whole = mistral.chat.complete(model="mistral-small-latest", messages=CHAT["messages"])
    assert whole.choices[0].message.content == "The quick brown fox jumps"
    streamed = list(mistral.chat.stream(model="mistral-small-latest", messages=CHAT["messages"]))
    assert streamed[-1].data.usage is not None
    assert streamed[-1].data.usage.completion_tokens == TOKENS
    with OpenAI(api_key="k", base_url=standin.v1) as openai:
        chunks = list(
            openai.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == TOKENS
