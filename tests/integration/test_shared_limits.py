"""Two ``autan serve`` processes sharing Redis (and one database) hold one limit exactly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.databases import REDIS_URL, redis_prefix
from tests.server import Server, start_server, stop_server

pytestmark = pytest.mark.model


@dataclass(frozen=True)
class Pair:
    servers: tuple[Server, Server]
    admin_key: str

    def new_key(self, **limits: int) -> str:
        r = httpx.post(
            f"{self.servers[0].v1}/admin/api-keys",
            json={"name": "load", **limits},
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["key"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    data_dir: Path = tmp_path_factory.mktemp("shared")
    for prefix in redis_prefix():
        env = {"AUTAN_REDIS_URL": REDIS_URL, "AUTAN_ACCOUNTS__REDIS_PREFIX": prefix}
        args = ("--data-dir", str(data_dir), "--parallel", "2", "--ctx-size", "512")
        args += ("--threads", "1")
        first = start_server(*args, auth=True, env=env)
        # Started one after the other: the first creates the schema and the admin key.
        second = start_server(*args, auth=True, env=env)
        try:
            admin_key = (data_dir / "admin_key").read_text().strip()
            yield Pair((first[1], second[1]), admin_key)
        finally:
            stop_server(first[0])
            stop_server(second[0])


def _hammer(pair: Pair, secret: str, n: int) -> tuple[list[int], float]:
    """``n`` GET /v1/models, alternating between the two servers, 8 in flight; the statuses
    and how long it took."""

    async def go() -> list[int]:
        gate = asyncio.Semaphore(8)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(timeout=60, headers=headers) as client:

            async def one(i: int) -> int:
                async with gate:
                    r = await client.get(f"{pair.servers[i % 2].v1}/models")
                    return r.status_code

            return await asyncio.gather(*(one(i) for i in range(n)))

    start = time.monotonic()
    statuses = asyncio.run(go())
    return statuses, time.monotonic() - start


def test_at_90_percent_of_the_limit_no_request_is_refused(pair: Pair) -> None:
    statuses, _ = _hammer(pair, pair.new_key(requests_per_minute=100), 90)
    assert statuses.count(200) == 90


def test_at_150_percent_the_429s_match_the_excess(pair: Pair) -> None:
    limit, sent = 100, 150
    statuses, elapsed = _hammer(pair, pair.new_key(requests_per_minute=limit), sent)
    assert set(statuses) <= {200, 429}
    # The bucket refills 100 per minute while the burst is sent: that much more may pass.
    allowed = limit + int(elapsed * limit / 60)
    excess = sent - allowed
    refused = statuses.count(429)
    assert abs(refused - excess) <= 0.05 * excess, (refused, excess, elapsed)


def test_remaining_counts_agree_across_the_two_processes(pair: Pair) -> None:
    # 10 per minute: one request refills every 6 s, far longer than these requests take.
    secret = pair.new_key(requests_per_minute=10, tokens_per_minute=10_000)
    headers = {"Authorization": f"Bearer {secret}"}
    remaining = []
    for i in range(10):
        r = httpx.get(f"{pair.servers[i % 2].v1}/models", headers=headers)
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit-req-minute"] == "10"
        remaining.append(int(r.headers["x-ratelimit-remaining-req-minute"]))
    assert remaining == list(range(9, -1, -1))
    for server in pair.servers:
        r = httpx.get(f"{server.v1}/models", headers=headers)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 6


def test_tokens_used_on_one_process_are_counted_on_the_other(pair: Pair) -> None:
    tpm = 600  # one token refills every 100 ms
    secret = pair.new_key(tokens_per_minute=tpm)
    headers = {"Authorization": f"Bearer {secret}"}
    start = time.monotonic()
    r = httpx.post(
        f"{pair.servers[0].v1}/chat/completions",
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4,
        },
        headers=headers,
        timeout=60,
    )
    assert r.status_code == 200
    used = r.json()["usage"]["total_tokens"]
    left = int(
        httpx.get(f"{pair.servers[1].v1}/models", headers=headers).headers[
            "x-ratelimit-remaining-tokens-minute"
        ]
    )
    refilled = int((time.monotonic() - start) * tpm / 60) + 1
    assert tpm - used <= left <= tpm - used + refilled
