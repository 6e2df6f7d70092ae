"""A real ``autan serve --models-file`` with two models and a memory budget for one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from mistralai import Mistral

from autan.models.card import ModelCard
from autan.models.footprint import Footprint
from autan.models.models_file import ModelsFile
from autan.models.packaged import packaged_model_path
from tests.server import Server, start_server, stop_server

pytestmark = pytest.mark.model

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The packaged GGUF declared twice: ``first`` (by path, preloaded) and ``second``."""
    gguf = packaged_model_path()
    file = tmp_path_factory.mktemp("registry") / "models.toml"
    small = {"context_length": 512, "parallel": 2}
    ModelsFile(file).write(
        [
            ModelCard(id="first", path=gguf, preload=True, **small),  # type: ignore[arg-type]
            ModelCard(
                id="second",
                aliases=("second-alias",),
                packaged="smollm2-135m-instruct",
                **small,  # type: ignore[arg-type]
            ),
        ]
    )
    one_model = Footprint.read(gguf).memory_bytes(512, 2 + 1)  # parallel 2, one reserve
    budget = str(one_model * 3 // 2)
    proc, srv = start_server("--models-file", str(file), "--max-loaded-memory", budget)
    try:
        yield srv
    finally:
        stop_server(proc)


def _health(server: Server) -> dict[str, dict[str, object]]:
    body = httpx.get(f"{server.url}/health", timeout=10).json()
    return {m["id"]: m for m in body["models"]}


def test_both_models_answer_in_turn_and_the_idle_one_is_unloaded(server: Server) -> None:
    health = _health(server)
    assert health["first"]["state"] == "loaded" and health["second"]["state"] == "unloaded"

    client = Mistral(api_key="any-key", server_url=server.url)
    for name in ("first", "second-alias", "first", "second"):
        r = client.chat.complete(model=name, messages=HELLO, max_tokens=12, temperature=0)
        assert r.model == name
        assert isinstance(r.choices[0].message.content, str) and r.choices[0].message.content
        loaded = {m: h["state"] for m, h in _health(server).items()}
        current = "first" if name == "first" else "second"
        other = "second" if current == "first" else "first"
        assert loaded == {current: "loaded", other: "unloaded"}

    health = _health(server)
    assert health["first"]["loads"] == 2 and health["first"]["unloads"] == 2
    assert health["second"]["loads"] == 2 and health["second"]["unloads"] == 1

    cards = {c.id: c for c in client.models.list().data or []}
    assert set(cards) == {"first", "second", "all-minilm-l6-v2"}  # and the embedding model
    assert cards["second"].aliases == ["second-alias"]
    assert cards["second"].max_context_length == 512


def test_requests_for_both_at_once_wait_their_turn(server: Server) -> None:
    async def go() -> list[str]:
        async with Mistral(api_key="any-key", server_url=server.url) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.complete_async(
                        model=name, messages=HELLO, max_tokens=12, temperature=0
                    )
                    for name in ("first", "second", "first", "second")
                )
            )
        return [r.choices[0].message.content for r in replies]  # type: ignore[misc]

    contents = asyncio.run(go())
    assert all(isinstance(c, str) and c for c in contents)
    assert {h["requests"] for h in _health(server).values()} == {0}
