"""The registry on fake engines: lazy loads, one load per model, LRU eviction, pinning."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autan.errors import Conflict, InvalidRequest, ModelLoadFailed, UnknownModel
from autan.models.registry import ModelRegistry
from tests.fakes import FakeLoader, fake_card


def _registry(loader: FakeLoader, budget: int, *ids: str) -> ModelRegistry:
    return ModelRegistry(
        [fake_card(i, f"{i}-alias") for i in ids], loader, max_loaded_memory=budget
    )


def test_declaring_loads_nothing_and_first_use_loads_in_a_worker_thread() -> None:
    loader = FakeLoader()
    registry = _registry(loader, 1000, "a", "b")
    assert [m.state for m in registry] == ["unloaded", "unloaded"]
    assert registry.resolve("b-alias").id == "b"

    async def go() -> str:
        async with registry.acquire("b-alias") as model:
            return model.id

    assert asyncio.run(go()) == "b"
    assert loader.loads == ["b"]
    assert [m.state for m in registry] == ["unloaded", "loaded"]
    assert "MainThread" not in loader.loaded_in_threads
    registry.close()
    assert loader.closed == ["b"]


def test_unknown_name_and_wrong_kind_are_refused() -> None:
    registry = ModelRegistry(
        [fake_card("chat"), fake_card("embed", kind="embedding")],
        FakeLoader(),
        max_loaded_memory=1000,
    )

    async def acquire(name: str) -> None:
        async with registry.acquire(name):
            pass

    with pytest.raises(UnknownModel):
        asyncio.run(acquire("nope"))
    with pytest.raises(
        InvalidRequest, match=r"Model embed \(kind 'embedding'\) cannot serve chat requests"
    ):
        asyncio.run(acquire("embed"))


def test_concurrent_requests_wait_for_one_load() -> None:
    loader = FakeLoader(load_delay=0.2)
    registry = _registry(loader, 1000, "a")

    async def go() -> list[object]:
        async def one() -> object:
            async with registry.acquire("a") as model:
                return model

        return await asyncio.gather(*(one() for _ in range(5)))

    models = asyncio.run(go())
    assert loader.loads == ["a"]
    assert all(m is models[0] for m in models)
    registry.close()


def test_a_waiter_that_gives_up_does_not_cancel_the_load() -> None:
    loader = FakeLoader(load_delay=0.2)
    registry = _registry(loader, 1000, "a")

    async def go() -> str:
        async def one() -> str:
            async with registry.acquire("a") as model:
                return model.id

        impatient = asyncio.create_task(one())
        patient = asyncio.create_task(one())
        await asyncio.sleep(0.05)
        impatient.cancel()
        return await patient

    assert asyncio.run(go()) == "a"
    assert loader.loads == ["a"]
    assert registry.resolve("a").users == 0
    registry.close()


def test_least_recently_used_idle_model_is_unloaded_when_the_budget_is_full() -> None:
    loader = FakeLoader(memory_bytes=100)
    registry = _registry(loader, 250, "a", "b", "c")  # room for two

    async def use(name: str) -> None:
        async with registry.acquire(name):
            pass

    async def go() -> None:
        for name in ("a", "b", "a", "c"):
            await use(name)

    asyncio.run(go())
    assert loader.loads == ["a", "b", "c"]
    assert loader.closed == ["b"]  # a was used after b
    assert {m.id: m.state for m in registry} == {"a": "loaded", "b": "unloaded", "c": "loaded"}
    assert registry.loaded_bytes == 200
    assert registry.resolve("b").unloads == 1

    asyncio.run(use("b"))  # comes back, pushing out a, now the least recently used
    assert loader.loads == ["a", "b", "c", "b"]
    assert loader.closed == ["b", "a"]
    registry.close()


def test_a_model_in_use_is_not_unloaded_and_the_next_load_waits_for_it() -> None:
    loader = FakeLoader(memory_bytes=100)
    registry = _registry(loader, 150, "a", "b")  # room for one

    async def go() -> None:
        async with registry.acquire("a"):
            waiting = asyncio.create_task(_hold(registry, "b"))
            await asyncio.sleep(0.1)
            assert registry.resolve("a").state == "loaded"
            assert registry.resolve("b").state == "loading"
            assert not waiting.done()
            assert loader.loads == ["a"]
        assert await waiting == "b"

    asyncio.run(go())
    assert loader.loads == ["a", "b"]
    assert loader.closed == ["a"]
    assert [m.state for m in registry] == ["unloaded", "loaded"]
    registry.close()


async def _hold(registry: ModelRegistry, name: str) -> str:
    async with registry.acquire(name) as model:
        return model.id


def test_a_model_larger_than_the_budget_loads_alone_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loader = FakeLoader(memory_bytes=100)
    registry = _registry(loader, 50, "a", "b")
    with caplog.at_level(logging.WARNING):
        asyncio.run(_hold(registry, "a"))
        asyncio.run(_hold(registry, "b"))
    assert loader.loads == ["a", "b"]
    assert loader.closed == ["a"]
    assert "more than --max-loaded-memory" in caplog.text
    registry.close()


def test_a_failed_load_is_a_typed_error_and_the_next_request_tries_again() -> None:
    attempts: list[str] = []

    def flaky(card: object) -> object:
        attempts.append("try")
        if len(attempts) == 1:
            raise OSError("disk went away")
        from tests.fakes import fake_engine

        return fake_engine()[0]

    registry = _registry(FakeLoader(flaky), 1000, "a")  # type: ignore[arg-type]
    with pytest.raises(ModelLoadFailed, match="Model a could not be loaded: disk went away"):
        asyncio.run(_hold(registry, "a"))
    assert registry.resolve("a").state == "unloaded"
    assert registry.resolve("a").users == 0
    assert asyncio.run(_hold(registry, "a")) == "a"
    registry.close()


def test_preload_loads_only_the_cards_marked_so() -> None:
    loader = FakeLoader()
    registry = ModelRegistry(
        [fake_card("a"), fake_card("b", preload=True)], loader, max_loaded_memory=1000
    )
    asyncio.run(registry.preload())
    assert loader.loads == ["b"]
    registry.close()


def test_a_name_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'x' is served twice"):
        ModelRegistry(
            [fake_card("a", "x"), fake_card("b", "x")], FakeLoader(), max_loaded_memory=1000
        )


def test_an_admin_loads_and_unloads_a_model_but_not_under_its_requests() -> None:
    loader = FakeLoader(memory_bytes=100)
    registry = _registry(loader, 150, "a", "b")  # room for one

    async def go() -> None:
        assert (await registry.load("a-alias")).state == "loaded"
        assert (await registry.load("a")).state == "loaded"  # loaded already: nothing to do
        assert loader.loads == ["a"]
        await registry.load("b")  # makes room as a request would
        assert loader.closed == ["a"]
        async with registry.acquire("b"):
            with pytest.raises(Conflict, match="held by 1 request"):
                await registry.unload("b")
        assert (await registry.unload("b")).state == "unloaded"
        assert (await registry.unload("b")).state == "unloaded"
        with pytest.raises(UnknownModel):
            await registry.unload("nope")

    asyncio.run(go())
    assert loader.closed == ["a", "b"]
    assert registry.resolve("b").unloads == 1 and registry.loaded_bytes == 0
    registry.close()
