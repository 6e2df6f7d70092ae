"""The provider path: a routed model on a server speaking the Mistral API, against the
stand-in for La Plateforme in its own process (the real one cannot be reached from here)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mistralai import Mistral
from mistralai.models import SDKError

from autan.models.card import ModelCard
from tests.routing.test_router import WEATHER, gateway
from tests.standin.process import StandIn, running_platform

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.fixture(scope="module")
def platform_standin() -> Iterator[StandIn]:
    with running_platform("--tokens", "6") as standin:
        yield standin


@pytest.fixture
def standin(platform_standin: StandIn) -> Iterator[StandIn]:
    platform_standin.behave()
    platform_standin.clear_requests()
    yield platform_standin
    platform_standin.behave()


def card(standin: StandIn, **deployment: Any) -> ModelCard:
    return ModelCard.model_validate(
        {
            "id": "mistral-small-latest",
            "capabilities": {
                "completion_chat": True,
                "function_calling": True,
                "completion_fim": True,
            },
            "deployments": [
                {
                    "backend": "mistral",
                    "url": standin.url,
                    "upstream_model": "mistral-small-2503",
                    "api_key_env": "STANDIN_KEY",
                    **deployment,
                }
            ],
        }
    )


@pytest.fixture
def sdk(tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mistral]:
    monkeypatch.setenv("STANDIN_KEY", "sk-provider")
    embed = ModelCard.model_validate(
        {
            "id": "mistral-embed",
            "kind": "embedding",
            "capabilities": {},
            "deployments": [
                {"backend": "mistral", "url": standin.url, "upstream_model": "mistral-embed"}
            ],
        }
    )
    with gateway(tmp_path, [card(standin, first_token_timeout=1.0), embed]) as client:
        yield Mistral(api_key="any", server_url="http://testserver", client=client)


def test_chat_stream_tools_json_fim_and_embeddings_through_the_sdk(
    sdk: Mistral, standin: StandIn
) -> None:
    reply = sdk.chat.complete(
        model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}], random_seed=4
    )
    assert reply.choices[0].message.content and reply.usage.total_tokens > 0
    sent = standin.requests()[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "mistral-small-2503" and sent["body"]["random_seed"] == 4
    assert sent["headers"]["authorization"] == "Bearer sk-provider"

    chunks = list(
        sdk.chat.stream(model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])
    )
    assert chunks[-1].data.usage is not None
    assert chunks[-1].data.choices[0].finish_reason == "stop"

    tool = sdk.chat.complete(
        model="mistral-small-latest",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="any",
    )
    assert standin.requests()[-1]["body"]["tool_choice"] == "any"
    (call,) = tool.choices[0].message.tool_calls or []
    assert len(call.id or "") == 9
    jsonschema.validate(json.loads(str(call.function.arguments)), WEATHER["function"]["parameters"])  # type: ignore[index]

    person = sdk.chat.complete(
        model="mistral-small-latest",
        messages=[{"role": "user", "content": "a person"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}},  # type: ignore[arg-type]
    )
    jsonschema.validate(json.loads(str(person.choices[0].message.content)), PERSON)

    fim = sdk.fim.complete(model="mistral-small-latest", prompt="def f(", suffix="):")
    assert standin.requests()[-1]["path"] == "/v1/fim/completions"
    assert fim.choices[0].message.content

    vectors = sdk.embeddings.create(model="mistral-embed", inputs=["a", "b"])
    assert len(vectors.data) == 2 and standin.requests()[-1]["path"] == "/v1/embeddings"


def test_a_429_with_retry_after_is_answered_503_with_the_upstream_named(
    sdk: Mistral, standin: StandIn
) -> None:
    standin.behave(status=429, retry_after=7, count=5)
    with pytest.raises(SDKError) as refused:
        sdk.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": "x"}])
    raw = refused.value.raw_response
    assert raw.status_code == 503 and int(raw.headers["retry-after"]) >= 6
    assert "answered 429" in raw.text


def test_a_slow_provider_times_out_on_its_first_token(sdk: Mistral, standin: StandIn) -> None:
    standin.behave(delay_ms=3000, count=1)
    started = time.monotonic()
    with pytest.raises(SDKError) as refused:
        sdk.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 2.5  # the 1 s first-token timeout, not the 3 s delay
    assert "within 1 s" in refused.value.raw_response.text


def test_a_reply_that_breaks_its_schema_never_reaches_the_client(
    sdk: Mistral, standin: StandIn
) -> None:
    standin.behave(break_schema=True)
    with pytest.raises(SDKError) as refused:
        sdk.chat.complete(
            model="mistral-small-latest",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="any",
        )
    raw = refused.value.raw_response
    assert raw.status_code == 502 and raw.json()["code"] == "invalid_upstream_reply"
    assert len(standin.requests()) == 2  # asked again once
