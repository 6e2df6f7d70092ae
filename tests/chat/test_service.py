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


def test_a_model_loaded_again_is_prompted_through_its_new_engine() -> None:
    """A model's prompt format is built with its engine: one for an unloaded engine is gone."""
    from autan.models.registry import ModelRegistry
    from tests.fakes import FakeLoader, fake_card

    engines = []

    def make(card: object) -> object:
        engine, _ = fake_engine(b"Hi")
        engines.append(engine)
        return engine

    cards = [fake_card("a", preload=True), fake_card("b")]
    registry = ModelRegistry(cards, FakeLoader(make, memory_bytes=100), max_loaded_memory=150)  # type: ignore[arg-type]
    service = ChatService(registry)

    async def chat(name: str) -> str:
        body = {**REQUEST, "model": name}
        reply = await service.complete(ChatCompletionRequest.model_validate(body))
        return str(reply.choices[0].message.content)

    async def go() -> list[str]:
        await registry.preload()
        return [await chat(name) for name in ("a", "b", "a")]

    try:
        assert asyncio.run(go()) == ["Hi", "Hi", "Hi"]
        assert len(engines) == 3  # a, b (a unloaded), a again
        first_a, _, second_a = engines
        served = registry.resolve("a").served
        assert served is not None
        fmt = served.formats.chat
        assert fmt._engine is second_a and fmt._engine is not first_a  # type: ignore[attr-defined]
    finally:
        registry.close()
