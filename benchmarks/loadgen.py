"""Load generator for any OpenAI-compatible chat endpoint (autan, llama-server, llama_cpp.server).

Streams every request and measures, per concurrency level: TTFT (time to the first content
token), inter-token latency (gap between content chunks), aggregate output tokens/s and
requests/s. Output tokens are the server's usage count when it sends one, else content chunks.

    python benchmarks/loadgen.py --url http://127.0.0.1:8000/v1 --model smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from dataclasses import dataclass, field

import httpx

PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a bicycle works, part by part.",
    "Describe a day in the life of a baker in Paris, from dawn to night.",
    "Write a detailed guide to planting a vegetable garden in spring.",
    "Tell the history of the printing press and how it changed the world.",
    "Describe how rain forms, from evaporation to the storm.",
    "Write a long letter from a sailor to his family about his travels.",
    "Explain how computers store numbers and text, step by step.",
]


_CONTENT = re.compile(rb'"content":\s*"[^"]')


@dataclass
class RequestResult:
    ttft: float
    itls: list[float]
    output_tokens: int
    latency: float
    ok: bool = True


@dataclass
class LevelResult:
    concurrency: int
    wall: float
    results: list[RequestResult] = field(default_factory=list)

    @property
    def ok(self) -> list[RequestResult]:
        return [r for r in self.results if r.ok]

    def row(self) -> dict[str, float]:
        ok = self.ok
        ttfts = sorted(r.ttft for r in ok)
        itls = sorted(x for r in ok for x in r.itls)
        tokens = sum(r.output_tokens for r in ok)
        return {
            "concurrency": self.concurrency,
            "requests": len(ok),
            "failed": len(self.results) - len(ok),
            "ttft_p50_ms": 1000 * _pct(ttfts, 50),
            "ttft_p99_ms": 1000 * _pct(ttfts, 99),
            "itl_p50_ms": 1000 * _pct(itls, 50),
            "itl_p99_ms": 1000 * _pct(itls, 99),
            "output_tok_s": tokens / self.wall,
            "req_s": len(ok) / self.wall,
            "mean_output_tokens": statistics.fmean(r.output_tokens for r in ok) if ok else 0.0,
            # One stream's speed once its first token came: prompt prefill left out.
            "decode_tok_s_p50": statistics.median(decode) if (decode := _decode_speeds(ok)) else 0,
        }


def _decode_speeds(results: list[RequestResult]) -> list[float]:
    """Each request's output tokens after the first over the time from its first to its last."""
    return [
        (r.output_tokens - 1) / (r.latency - r.ttft)
        for r in results
        if r.output_tokens > 1 and r.latency > r.ttft
    ]


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def one_request(
    client: httpx.AsyncClient,
    url: str,
    model: str,
    prompt: str,
    max_tokens: int,
    extra: dict[str, object] | None = None,
) -> RequestResult:
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **(extra or {}),
    }
    start = time.perf_counter()
    first: float | None = None
    last = start
    itls: list[float] = []
    chunks = 0
    usage_tokens: int | None = None
    buffer = b""
    async with client.stream("POST", f"{url}/chat/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return RequestResult(0.0, [], 0, time.perf_counter() - start, ok=False)
        # Raw bytes and a regex per event: the client shares the CPU with the server under
        # test, so it must cost as little as it can (and the same for every server).
        async for data in r.aiter_raw():
            now = time.perf_counter()
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                if _CONTENT.search(event):
                    if first is None:
                        first = now
                    else:
                        itls.append(now - last)
                    last = now
                    chunks += 1
                if b'"usage":{' in event:
                    usage = json.loads(event[event.index(b"{") :]).get("usage") or {}
                    usage_tokens = usage.get("completion_tokens", usage_tokens)
    end = time.perf_counter()
    tokens = usage_tokens if usage_tokens is not None else chunks
    return RequestResult((first or end) - start, itls, tokens, end - start)


async def run_level(
    url: str,
    model: str,
    concurrency: int,
    n_requests: int,
    max_tokens: int,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> LevelResult:
    """``n_requests`` streamed requests, ``concurrency`` at a time; ``extra`` joins each body,
    ``headers`` (an API key) each request."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(PROMPTS[i % len(PROMPTS)])
    level = LevelResult(concurrency, 0.0)
    # A fresh connection per request: llama-server's HTTP library closes kept-alive connections
    # after a few requests, which would fail the next request sent on them.
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=600, limits=limits, headers=headers) as client:

        async def worker() -> None:
            while not queue.empty():
                prompt = queue.get_nowait()
                level.results.append(
                    await one_request(client, url, model, prompt, max_tokens, extra)
                )

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        level.wall = time.perf_counter() - start
    return level


async def warm_up(url: str, model: str, headers: dict[str, str] | None = None) -> None:
    async with httpx.AsyncClient(timeout=600, headers=headers) as client:
        await one_request(client, url, model, "Hello", 8)


def run(
    url: str, model: str, levels: list[int], requests_per_level: int, max_tokens: int
) -> list[dict[str, float]]:
    asyncio.run(warm_up(url, model))
    rows = []
    for c in levels:
        n = max(requests_per_level, c)
        rows.append(asyncio.run(run_level(url, model, c, n, max_tokens)).row())
    return rows


def format_rows(label: str, rows: list[dict[str, float]]) -> str:
    lines = [
        f"{label}",
        f"{'conc':>4} {'req':>4} {'fail':>4} {'ttft p50':>9} {'ttft p99':>9} "
        f"{'itl p50':>8} {'itl p99':>8} {'out tok/s':>9} {'req/s':>6} {'tok/req':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['concurrency']:>4} {r['requests']:>4} {r['failed']:>4} "
            f"{r['ttft_p50_ms']:>7.0f}ms {r['ttft_p99_ms']:>7.0f}ms "
            f"{r['itl_p50_ms']:>6.1f}ms {r['itl_p99_ms']:>6.1f}ms "
            f"{r['output_tok_s']:>9.1f} {r['req_s']:>6.2f} {r['mean_output_tokens']:>7.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL ending in /v1")
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", default="1,4,8,16")
    ap.add_argument("--requests", type=int, default=16, help="requests per level (min: level)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", action="store_true", help="print rows as JSON")
    a = ap.parse_args()
    levels = [int(x) for x in a.concurrency.split(",")]
    rows = run(a.url.rstrip("/"), a.model, levels, a.requests, a.max_tokens)
    print(json.dumps(rows, indent=2) if a.json else format_rows(a.url, rows))


if __name__ == "__main__":
    main()
