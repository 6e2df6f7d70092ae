"""The ``openai`` SDK with ``base_url=.../v1`` against the real server."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.server import Server, default_chat_model_ids

pytestmark = pytest.mark.model

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(api_key="any-key", base_url=server.v1)


def test_complete(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=HELLO,
        max_tokens=16,  # type: ignore[arg-type]
    )
    assert r.choices[0].message.content
    assert r.usage is not None and r.usage.completion_tokens <= 16


def test_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=HELLO,  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_seed_and_stop(client: openai.OpenAI) -> None:
    args = dict(model="smollm2-135m-instruct", messages=HELLO, max_tokens=20, temperature=0.9)
    a = client.chat.completions.create(**args, seed=5)  # type: ignore[call-overload]
    b = client.chat.completions.create(**args, seed=5)  # type: ignore[call-overload]
    assert a.choices[0].message.content == b.choices[0].message.content


def test_async_client(server: Server) -> None:
    async def go() -> str | None:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.v1)
        r = await client.chat.completions.create(
            model="mistral-small-latest",
            messages=HELLO,
            max_tokens=8,  # type: ignore[arg-type]
        )
        await client.close()
        return r.choices[0].message.content

    assert asyncio.run(go())


def test_models_and_errors(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [*default_chat_model_ids(), "all-minilm-l6-v2"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "word " * 5000}],
        )
    assert "maximum context length" in str(e.value)
