"""``POST /v1/embeddings`` over HTTP against the packaged model called in-process, side by side.

Starts ``autan serve`` (packaged chat model idle, packaged all-MiniLM-L6-v2 int8 ONNX serving
embeddings), loads the same embedding model in this process, then alternates, round after
round: one-sentence requests one after another (latency), the same from 8 clients at once
(the server merges waiting requests into one model run; the same callers on the batcher
in-process show what merging gives without HTTP), and requests of 64 sentences
(sentences/s), over HTTP with JSON floats, over HTTP with base64, and as direct calls to the
model. Prints the median of each figure over the rounds and the ratios HTTP / direct, which
are what the server adds (parsing, JSON, the worker thread hop). ``GET /health`` between
the one-sentence requests gives the floor of one HTTP round trip on the same connection.

    .venv/bin/python -m benchmarks.embeddings --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable

import httpx

from autan.embeddings.batcher import EmbeddingBatcher
from autan.embeddings.model import EmbeddingModel
from autan.embeddings.output_format import OutputFormat
from autan.settings import EmbeddingSettings
from benchmarks.compare import ROOT, _free_port, _machine, _wait_ready, autan_serve_cmd

SUBJECTS = ["The new manager", "A small bakery", "My neighbour", "The city council", "Our team"]
VERBS = ["announced", "postponed", "celebrated", "reviewed", "cancelled", "planned"]
OBJECTS = ["the summer festival", "a budget for next year", "the delivery of fresh bread"]
TAILS = ["after a long meeting.", "on Tuesday morning.", "despite the heavy rain.", "at last."]


def sentences(n: int, seed: int) -> list[str]:
    """Short sentences of 12 to 16 tokens, different from one another across calls."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(TAILS)} ({rng.randrange(10_000)})"
        for _ in range(n)
    ]


def _timed(call: Callable[[], object], times: int) -> list[float]:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _concurrent(url: str, texts: list[str], concurrency: int) -> tuple[float, list[float]]:
    """``concurrency`` clients share ``texts``, one sentence a request: sentences/s, latencies."""
    pending = iter(texts)
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        for text in pending:
            start = time.perf_counter()
            r = await http.post("/v1/embeddings", json={"model": "mistral-embed", "input": text})
            r.raise_for_status()
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return len(texts) / (time.perf_counter() - start), latencies


async def _merged(batcher: EmbeddingBatcher, texts: list[str], concurrency: int) -> float:
    """The same load on the in-process batcher, with no HTTP: sentences/s."""
    pending = iter(texts)

    async def caller() -> None:
        for text in pending:
            await batcher.embed([text], OutputFormat())

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return len(texts) / (time.perf_counter() - start)


def _round(
    http: httpx.Client,
    model: EmbeddingModel,
    batcher: EmbeddingBatcher,
    a: argparse.Namespace,
    seed: int,
) -> dict[str, float]:
    one = iter(sentences(a.single * 3, seed))
    batches = iter([sentences(a.batch, seed * 1000 + i) for i in range(a.batches * 3)])

    def post(texts: list[str], encoding: str) -> None:
        r = http.post(
            "/v1/embeddings",
            json={"model": "mistral-embed", "input": texts, "encoding_format": encoding},
        )
        r.raise_for_status()

    # Each mode takes its turn inside every repetition, so that drift of a shared machine
    # falls on all of them alike.
    http_one: list[float] = []
    direct_one: list[float] = []
    floor: list[float] = []
    for _ in range(a.single):
        http_one += _timed(lambda: post([next(one)], "float"), 1)
        direct_one += _timed(lambda: model.embed([next(one)]), 1)
        floor += _timed(lambda: http.get("/health").raise_for_status(), 1)
    concurrent_s, concurrent = asyncio.run(
        _concurrent(str(http.base_url).rstrip("/"), sentences(a.single, -seed), a.concurrency)
    )
    merged_s = asyncio.run(_merged(batcher, sentences(a.single, -seed - 1000), a.concurrency))
    http_batch: list[float] = []
    http_b64: list[float] = []
    direct_batch: list[float] = []
    for _ in range(a.batches):
        http_batch += _timed(lambda: post(next(batches), "float"), 1)
        http_b64 += _timed(lambda: post(next(batches), "base64"), 1)
        direct_batch += _timed(lambda: model.embed(next(batches)), 1)
    return {
        "http_one_p50_ms": 1000 * _percentile(http_one, 0.5),
        "http_one_p95_ms": 1000 * _percentile(http_one, 0.95),
        "direct_one_p50_ms": 1000 * _percentile(direct_one, 0.5),
        "direct_one_p95_ms": 1000 * _percentile(direct_one, 0.95),
        "direct_one_s": a.single / sum(direct_one),
        "concurrent_s": concurrent_s,
        "merged_s": merged_s,
        "concurrent_p50_ms": 1000 * _percentile(concurrent, 0.5),
        "concurrent_p95_ms": 1000 * _percentile(concurrent, 0.95),
        "floor_p50_ms": 1000 * _percentile(floor, 0.5),
        "floor_p95_ms": 1000 * _percentile(floor, 0.95),
        "http_batch_s": a.batch * a.batches / sum(http_batch),
        "http_b64_batch_s": a.batch * a.batches / sum(http_b64),
        "direct_batch_s": a.batch * a.batches / sum(direct_batch),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--single", type=int, default=100, help="one-sentence requests per round")
    ap.add_argument("--batch", type=int, default=64, help="sentences per batch request")
    ap.add_argument("--batches", type=int, default=5, help="batch requests per round and mode")
    ap.add_argument("--concurrency", type=int, default=8, help="clients of one sentence each")
    a = ap.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    (ROOT / ".bench").mkdir(exist_ok=True)
    cmd = autan_serve_cmd(port, threads=a.threads, parallel=1, ctx_size=512)
    model = EmbeddingModel.load_packaged(EmbeddingSettings(threads=a.threads))
    batcher = EmbeddingBatcher(model, max_texts=EmbeddingSettings().batch_size)
    env = {**os.environ, "AUTAN_EMBEDDINGS__THREADS": str(a.threads)}
    with open(ROOT / ".bench" / "embeddings.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(url, proc)
            with httpx.Client(base_url=url, timeout=60) as http:
                warm = argparse.Namespace(single=5, batch=a.batch, batches=1, concurrency=2)
                _round(http, model, batcher, warm, 0)
                rounds = []
                for i in range(a.rounds):
                    start = time.perf_counter()
                    rounds.append(_round(http, model, batcher, a, seed=i + 1))
                    print(f"round {i + 1}/{a.rounds}: {time.perf_counter() - start:.0f}s")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    m = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"\nmachine: {_machine()}; threads {a.threads}")
    print(f"median of {a.rounds} interleaved rounds; {a.single} one-sentence requests and ")
    print(f"{a.batches} requests of {a.batch} sentences per round and mode, one at a time\n")
    print("| path | one sentence p50 ms | p95 ms | batch of 64: sentences/s |")
    print("|---|---|---|---|")
    print(
        f"| HTTP, JSON floats | {m['http_one_p50_ms']:.1f} | {m['http_one_p95_ms']:.1f} "
        f"| {m['http_batch_s']:.0f} |"
    )
    print(f"| HTTP, base64 | | | {m['http_b64_batch_s']:.0f} |")
    print(f"| HTTP, GET /health | {m['floor_p50_ms']:.1f} | {m['floor_p95_ms']:.1f} | |")
    print(
        f"| model in-process | {m['direct_one_p50_ms']:.1f} | {m['direct_one_p95_ms']:.1f} "
        f"| {m['direct_batch_s']:.0f} |"
    )
    print(
        f"\n{a.concurrency} clients, one sentence a request: {m['concurrent_s']:.0f} sentences/s "
        f"over HTTP (latency p50 {m['concurrent_p50_ms']:.1f} ms, p95 "
        f"{m['concurrent_p95_ms']:.1f} ms), against {m['direct_one_s']:.0f}/s for the model "
        f"in-process one sentence at a time: {m['concurrent_s'] / m['direct_one_s']:.2f}x"
    )
    print(
        f"the same {a.concurrency} callers on the in-process batcher, no HTTP: "
        f"{m['merged_s']:.0f} sentences/s, {m['merged_s'] / m['direct_one_s']:.2f}x"
    )
    latency = m["http_one_p50_ms"] / m["direct_one_p50_ms"]
    print(
        f"\nHTTP / in-process: one-sentence p50 {latency:.2f}x, batch sentences/s "
        f"{m['http_batch_s'] / m['direct_batch_s']:.2f}x (JSON floats), "
        f"{m['http_b64_batch_s'] / m['direct_batch_s']:.2f}x (base64)"
    )


if __name__ == "__main__":
    main()
