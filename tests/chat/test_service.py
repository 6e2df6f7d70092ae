"""How the chat service holds its model: from acquiring it until the reply is over."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from autan.chat.service import ChatService
from autan.models.registry import RegisteredModel
from autan.protocol.chat import ChatCompletionRequest
from tests.fakes import fake_engine, fake_registry

REQUEST = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def service_and_model() -> Iterator[tuple[ChatService, RegisteredModel]]:
    engine, _ = fake_engine(b"Hello")
    registry = fake_registry(engine)
    yield ChatService(registry), registry.resolve("fake-model")
    registry.close()


def test_complete_holds_the_model_only_while_it_runs(
    service_and_model: tuple[ChatService, RegisteredModel],
) -> None:
    service, model = service_and_model

    async def go() -> str:
        reply = await service.complete(ChatCompletionRequest.model_validate(REQUEST))
        return str(reply.choices[0].message.content)

    assert asyncio.run(go()) == "Hello"
    assert model.users == 0


def test_a_stream_holds_the_model_until_its_last_chunk_or_until_dropped(
    service_and_model: tuple[ChatService, RegisteredModel],
) -> None:
    service, model = service_and_model
    request = ChatCompletionRequest.model_validate({**REQUEST, "stream": True})

    async def go() -> list[int]:
        users = []
        chunks = await service.stream(request)
        users.append(model.users)
        async for _ in chunks:
            pass
        users.append(model.users)
        dropped = await service.stream(request)  # never iterated, e.g. the client left at once
        users.append(model.users)
        del dropped
        gc.collect()
        users.append(model.users)
        return users

    assert asyncio.run(go()) == [1, 0, 1, 0]
