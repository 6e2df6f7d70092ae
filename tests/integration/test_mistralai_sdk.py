"""The official ``mistralai`` 1.x SDK, unchanged, against the real server on the packaged model."""

from __future__ import annotations

import asyncio

import pytest
from mistralai import Mistral
from mistralai.models import HTTPValidationError, SDKError

from tests.server import Server, default_chat_model_ids

pytestmark = pytest.mark.model

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture(scope="module")
def client(server: Server) -> Mistral:
    return Mistral(api_key="any-key", server_url=server.url)


def test_complete(client: Mistral, server: Server) -> None:
    r = client.chat.complete(model="mistral-small-latest", messages=HELLO, max_tokens=24)
    assert r.model == "mistral-small-latest"
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert isinstance(choice.message.content, str) and choice.message.content
    assert r.usage.prompt_tokens > 0
    assert 0 < r.usage.completion_tokens <= 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_stream_concatenates_to_the_same_text_as_complete(client: Mistral) -> None:
    args = dict(model="smollm2-135m-instruct", messages=HELLO, max_tokens=32, temperature=0)
    full = client.chat.complete(**args).choices[0].message.content  # type: ignore[arg-type]
    chunks = list(client.chat.stream(**args))  # type: ignore[arg-type]
    assert chunks[0].data.choices[0].delta.role == "assistant"
    text = "".join(c.data.choices[0].delta.content or "" for c in chunks)  # type: ignore[misc]
    assert text == full
    last = chunks[-1].data
    assert last.choices[0].finish_reason in ("stop", "length")
    assert last.usage is not None and last.usage.completion_tokens > 0


def test_async_complete_and_stream(server: Server) -> None:
    async def go() -> tuple[str, str]:
        async with Mistral(api_key="any-key", server_url=server.url) as client:
            r = await client.chat.complete_async(
                model="smollm2-135m-instruct", messages=HELLO, max_tokens=16, temperature=0
            )
            stream = await client.chat.stream_async(
                model="smollm2-135m-instruct", messages=HELLO, max_tokens=16, temperature=0
            )
            text = ""
            async for ev in stream:
                text += ev.data.choices[0].delta.content or ""  # type: ignore[operator]
            return r.choices[0].message.content, text  # type: ignore[return-value]

    full, streamed = asyncio.run(go())
    assert full == streamed and full


def test_multi_turn(client: Mistral) -> None:
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    r = client.chat.complete(model="smollm2-135m-instruct", messages=messages, max_tokens=16)
    assert r.choices[0].message.content


def test_prefix_continuation(client: Mistral) -> None:
    messages = [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "The fruit I pick is", "prefix": True},
    ]
    r = client.chat.complete(
        model="smollm2-135m-instruct", messages=messages, max_tokens=8, temperature=0
    )
    content = r.choices[0].message.content
    assert isinstance(content, str) and content.startswith("The fruit I pick is")
    assert len(content) > len("The fruit I pick is")


def test_stop_string_is_honoured_and_not_leaked(client: Mistral) -> None:
    args = dict(model="smollm2-135m-instruct", messages=HELLO, max_tokens=40, temperature=0)
    full = client.chat.complete(**args).choices[0].message.content  # type: ignore[arg-type]
    assert isinstance(full, str) and len(full) > 6
    stop = full[3:6]
    r = client.chat.complete(**args, stop=[stop])  # type: ignore[arg-type]
    assert r.choices[0].message.content == full[: full.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_random_seed_makes_sampling_repeatable(client: Mistral) -> None:
    args = dict(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Invent a name for a cat."}],
        max_tokens=24,
        temperature=1.0,
    )
    a = client.chat.complete(**args, random_seed=1234).choices[0].message.content  # type: ignore[arg-type]
    b = client.chat.complete(**args, random_seed=1234).choices[0].message.content  # type: ignore[arg-type]
    others = {
        client.chat.complete(**args, random_seed=s).choices[0].message.content  # type: ignore[arg-type]
        for s in (1, 2, 3)
    }
    assert a == b
    assert len(others | {a}) > 1


def test_n_choices(client: Mistral) -> None:
    r = client.chat.complete(
        model="smollm2-135m-instruct",
        messages=HELLO,
        max_tokens=12,
        n=3,
        temperature=1.0,
        random_seed=7,
    )
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.message.content for c in r.choices)


def test_unknown_model_raises_sdk_error(client: Mistral) -> None:
    with pytest.raises(SDKError) as e:
        client.chat.complete(model="no-such-model", messages=HELLO)
    assert e.value.status_code == 404
    assert '"object":"error"' in e.value.body


def test_schema_error_raises_http_validation_error(client: Mistral) -> None:
    with pytest.raises(HTTPValidationError):
        client.chat.complete(model="smollm2-135m-instruct", messages=HELLO, temperature=5.0)


def test_models_list_and_get(client: Mistral) -> None:
    models = client.models.list()
    assert models.data is not None
    card, *others, embed = models.data
    assert [c.id for c in (card, *others)] == default_chat_model_ids()
    assert embed.id == "all-minilm-l6-v2" and embed.aliases == ["mistral-embed"]
    assert card.id == "smollm2-135m-instruct"
    assert "mistral-small-latest" in card.aliases
    assert card.capabilities.completion_chat
    assert client.models.retrieve(model_id="open-mistral-7b").id == "smollm2-135m-instruct"
