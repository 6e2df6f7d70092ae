"""Many users at once on the real engine: every stream completes with exact usage, and a
client that disconnects frees its slot for the next request at once."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.server import Server, start_server, stop_server

pytestmark = pytest.mark.model


async def _stream(client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int) -> dict:  # type: ignore[type-arg]
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "temperature": 0.8,
    }
    text, usage, finish, chunks = "", None, None, 0
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                data = json.loads(line[6:])
                chunks += 1
                text += data["choices"][0]["delta"].get("content") or ""
                finish = data["choices"][0]["finish_reason"]
                usage = data.get("usage") or usage
    return {"text": text, "usage": usage, "finish": finish}


def test_sixteen_concurrent_streams_complete_with_exact_usage(server: Server) -> None:
    async def go() -> list[dict]:  # type: ignore[type-arg]
        async with httpx.AsyncClient(timeout=300) as client:
            return await asyncio.gather(
                *(
                    _stream(client, server.url, f"Tell me fact number {i} about the sea.", 48)
                    for i in range(16)
                )
            )

    results = asyncio.run(go())
    assert len(results) == 16
    # The prompt count of a streamed request equals the one a plain request reports.
    plain = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "Tell me fact number 3 about the sea."}],
            "max_tokens": 1,
        },
        timeout=60,
    ).json()
    assert results[3]["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]
    for r in results:
        assert r["finish"] in ("stop", "length")
        assert r["usage"]["completion_tokens"] <= 48
        assert (
            r["usage"]["total_tokens"]
            == r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"]
        )
        if r["finish"] == "length":
            assert r["usage"]["completion_tokens"] == 48


def test_same_seed_same_output_under_concurrency(server: Server) -> None:
    seeded = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Invent a short story title."}],
        "max_tokens": 32,
        "temperature": 1.0,
        "random_seed": 42,
    }

    async def go() -> tuple[str, list[str]]:
        async with httpx.AsyncClient(timeout=300) as client:
            url = f"{server.url}/v1/chat/completions"
            alone = (await client.post(url, json=seeded)).json()
            noise = [
                {**seeded, "random_seed": i, "messages": [{"role": "user", "content": f"Say {i}"}]}
                for i in range(4)
            ]
            replies = await asyncio.gather(
                *(client.post(url, json=body) for body in [seeded] * 4 + noise)
            )
            texts = [r.json()["choices"][0]["message"]["content"] for r in replies[:4]]
            return alone["choices"][0]["message"]["content"], texts

    alone, together = asyncio.run(go())
    assert together == [alone] * 4


def _engine_stats(url: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{url}/health", timeout=10).json()["models"][0]  # type: ignore[no-any-return]


def test_disconnect_mid_stream_frees_the_slot_at_once() -> None:
    proc, srv = start_server("--parallel", "1", "--ctx-size", "2048")
    try:

        async def go() -> None:
            async with httpx.AsyncClient(timeout=120) as client:
                body = {
                    "model": "smollm2-135m-instruct",
                    "messages": [{"role": "user", "content": "Write a very long story."}],
                    "max_tokens": 1500,
                    "stream": True,
                }
                async with client.stream("POST", f"{srv.url}/v1/chat/completions", json=body) as r:
                    n = 0
                    async for line in r.aiter_lines():
                        n += line.startswith("data: ")
                        if n >= 5:
                            break  # leave mid-stream: the connection closes here
                # The only slot was busy; the next request must be admitted and answered.
                r2 = await client.post(
                    f"{srv.url}/v1/chat/completions",
                    json={
                        "model": "smollm2-135m-instruct",
                        "messages": [{"role": "user", "content": "Hi"}],
                        "max_tokens": 4,
                    },
                )
                assert r2.status_code == 200

        asyncio.run(go())
        stats = _engine_stats(srv.url)
        assert stats["cancelled"] == 1, stats
        assert stats["running"] == 0 and stats["waiting"] == 0
        # The abandoned sequence stopped early instead of running to its 1500-token limit.
        assert stats["generated_tokens"] < 200, stats
    finally:
        stop_server(proc)
