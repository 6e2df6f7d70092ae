"""What metrics and tracing cost a request, side by side in one run.

    .venv/bin/python -m benchmarks.observability_overhead --rounds 5

Two ``autan serve`` processes on the packaged model, with API keys on (so usage is metered
and counted): one with everything off (``AUTAN_METRICS__ENABLED=false``,
``AUTAN_REQUEST_LOG__ENABLED=false``, no OTLP endpoint), one with everything on (metrics,
scraped every second as a busy Prometheus would; traces exported over OTLP/HTTP to a receiver
in this process, which decodes them; prompt and completion text captured into the spans; the
request log on, keeping the bodies of the benchmark key's requests). Each round runs both
servers in turn (the order alternates):

- autan's added latency: ``--latency-requests`` non-streamed chat requests one at a time,
  alternating between the two servers request by request; per request, the client's whole
  time less the engine's time the server reports in its ``Server-Timing`` header
  (``engine;dur=``). What is left is autan outside the engine, HTTP and the loopback
  included.
- throughput: ``--requests`` streamed requests of ``--max-tokens`` tokens at concurrency
  ``--concurrency``, output tokens per second (``benchmarks/loadgen.py``).

Reported: the p50 of the added latency over every request of every round; the median over the
rounds of tokens per second, and the median of each round's on/off ratio; the difference on -
off against the project's bounds (at most 1 ms more p50 added latency, at most 3% fewer tokens
per second).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.compare import _machine
from benchmarks.loadgen import PROMPTS, run_level
from tests.observability.otlp_receiver import otlp_receiver
from tests.server import Server, start_server, stop_server

MAX_ADDED_P50_MS = 1.0
MAX_TOKS_LOSS = 0.03


@dataclass
class Target:
    label: str
    server: Server
    headers: dict[str, str]
    scrape: bool
    added_ms: list[float] = field(default_factory=list)
    autan_ms: list[float] = field(default_factory=list)
    tok_s: list[float] = field(default_factory=list)
    scrapes: int = 0


def _server_timing(header: str) -> dict[str, float]:
    parts = (p.strip().split(";dur=") for p in header.split(","))
    return {name: float(value) for name, value in parts}


async def _latency(targets: list[Target], n: int, max_tokens: int) -> None:
    """``n`` requests to each target, one at a time, alternating between the targets request
    by request, so that both see the same machine (shared CPUs drift within seconds)."""
    clients = [httpx.AsyncClient(headers=t.headers, timeout=120) for t in targets]
    try:
        for i in range(n):
            pairs = list(zip(targets, clients, strict=True))
            for target, client in pairs if i % 2 == 0 else pairs[::-1]:
                body = {
                    "model": target.server.model,
                    "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                }
                t0 = time.perf_counter()
                r = await client.post(f"{target.server.v1}/chat/completions", json=body)
                elapsed_ms = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                timing = _server_timing(r.headers["server-timing"])
                target.added_ms.append(elapsed_ms - timing["engine"])
                target.autan_ms.append(timing["autan"])
    finally:
        for client in clients:
            await client.aclose()


async def _scraper(target: Target, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            r = await client.get(f"{target.server.url}/metrics")
            r.raise_for_status()
            target.scrapes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def _throughput(target: Target, a: argparse.Namespace) -> None:
    stop = asyncio.Event()
    scraper = asyncio.create_task(_scraper(target, stop)) if target.scrape else None
    try:
        level = await run_level(
            target.server.v1,
            target.server.model,
            a.concurrency,
            a.requests,
            a.max_tokens,
            headers=target.headers,
        )
        row = level.row()
        assert row["failed"] == 0, f"{target.label}: {row['failed']} requests failed"
        target.tok_s.append(row["output_tok_s"])
    finally:
        stop.set()
        if scraper is not None:
            await scraper


def _key(server: Server, data_dir: Path, *, bodies: bool) -> dict[str, str]:
    """A key for the benchmark; with ``bodies`` the request log keeps its requests' bodies."""
    admin = {"Authorization": f"Bearer {(data_dir / 'admin_key').read_text().strip()}"}
    r = httpx.post(f"{server.v1}/admin/api-keys", json={"name": "bench"}, headers=admin)
    r.raise_for_status()
    key = r.json()
    if bodies:
        r = httpx.patch(
            f"{server.v1}/admin/api-keys/{key['key_id']}",
            json={"request_log_bodies_days": 30},
            headers=admin,
        )
        r.raise_for_status()
    return {"Authorization": f"Bearer {key['key']}"}


def _logged(data_dir: Path) -> tuple[int, int]:
    """Chat requests the 'on' server's request log holds (read from its SQLite file once the
    server has stopped, which writes what was queued), and how many with their bodies."""
    with sqlite3.connect(data_dir / "autan.db") as db:
        total, with_bodies = db.execute(
            "SELECT count(*), count(request_messages) FROM request_log "
            "WHERE endpoint = '/v1/chat/completions'"
        ).fetchone()
    return int(total), int(with_bodies)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=16, help="streamed, per round and server")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--latency-requests", type=int, default=40, help="per round and server")
    ap.add_argument("--latency-max-tokens", type=int, default=8)
    a = ap.parse_args()

    common = (
        "--threads", str(a.threads), "--parallel", str(a.concurrency), "--ctx-size", "2048",
        "--no-embeddings",
    )  # fmt: skip
    procs = []
    with tempfile.TemporaryDirectory() as tmp, otlp_receiver() as receiver:
        try:
            targets = []
            for label, env, scrape in (
                (
                    "off",
                    {
                        "AUTAN_METRICS__ENABLED": "false",
                        "AUTAN_REQUEST_LOG__ENABLED": "false",
                        "OTEL_SDK_DISABLED": "true",
                    },
                    False,
                ),
                (
                    "on",
                    {
                        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                        "AUTAN_TRACING__CAPTURE_CONTENT": "true",
                    },
                    True,
                ),
            ):
                data_dir = Path(tmp) / label
                proc, server = start_server(
                    *common, "--data-dir", str(data_dir), auth=True, env=env
                )
                procs.append(proc)
                headers = _key(server, data_dir, bodies=label == "on")
                targets.append(Target(label, server, headers, scrape))
            asyncio.run(_latency(targets, 4, a.latency_max_tokens))  # warm both
            for target in targets:
                target.added_ms.clear()
                target.autan_ms.clear()
            for r in range(a.rounds):
                asyncio.run(_latency(targets, a.latency_requests, a.latency_max_tokens))
                for target in targets if r % 2 == 0 else targets[::-1]:
                    asyncio.run(_throughput(target, a))
        finally:
            for proc in procs:
                stop_server(proc)
        spans = len(receiver.spans)
        logged, with_bodies = _logged(Path(tmp) / "on")

    off, on = targets
    print(
        f"autan observability overhead: {a.rounds} rounds; latency: {a.latency_requests} "
        f"non-streamed requests of {a.latency_max_tokens} tokens one at a time; throughput: "
        f"{a.requests} streamed requests of {a.max_tokens} tokens at concurrency "
        f"{a.concurrency}; --threads {a.threads}, API keys on"
    )
    print(f"machine: {_machine()}")
    print(
        f"'on': {on.scrapes} scrapes of /metrics, {spans} spans received over OTLP/HTTP, "
        f"{logged} requests in the request log, {with_bodies} with their bodies"
    )
    print()
    print(
        "| observability | added latency p50 ms | p90 ms | Server-Timing autan p50 ms | "
        f"c={a.concurrency} output tok/s (median of rounds) | tok/s per round |"
    )
    print("|---|---|---|---|---|---|")
    for t in targets:
        print(
            f"| {t.label} | {_pct(t.added_ms, 50):.2f} | {_pct(t.added_ms, 90):.2f} | "
            f"{_pct(t.autan_ms, 50):.2f} | {statistics.median(t.tok_s):.1f} | "
            f"{', '.join(f'{x:.0f}' for x in t.tok_s)} |"
        )
    added = _pct(on.added_ms, 50) - _pct(off.added_ms, 50)
    # Rounds run back to back: the ratio within a round compares like with like.
    loss = 1 - statistics.median(x / y for x, y in zip(on.tok_s, off.tok_s, strict=True))
    print()
    print(
        f"on - off: p50 added latency {added:+.2f} ms (bound +{MAX_ADDED_P50_MS:g} ms: "
        f"{'ok' if added <= MAX_ADDED_P50_MS else 'OVER'}); output tok/s {-loss:+.1%}, median "
        f"of the rounds' on/off ratios "
        f"(bound -{MAX_TOKS_LOSS:.0%}: {'ok' if loss <= MAX_TOKS_LOSS else 'OVER'})"
    )


if __name__ == "__main__":
    main()
