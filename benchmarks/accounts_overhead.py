"""What API keys, rate limits and the usage ledger add to a request, side by side in one run.

    .venv/bin/python -m benchmarks.accounts_overhead --rate 200 --requests 1000 --rounds 5

``autan serve`` processes run at once on the packaged model: ``--no-auth``; accounts on
SQLite with limits in memory; accounts on SQLite with limits in Redis (skipped when Redis does
not answer); with ``--postgres``, accounts on PostgreSQL with limits in Redis. Each round sends
``GET /v1/models`` to each server in turn (the order rotates), open-loop at ``--rate``
requests per second, with a key whose request and token limits are set (so every request takes
from its buckets, gets headers and leaves a usage record). Latency is measured per request by
the client; the medians over all rounds are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.databases import fresh_postgres
from tests.server import Server, start_server, stop_server

REDIS_URL = os.environ.get("AUTAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Target:
    label: str
    server: Server
    headers: dict[str, str]
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


async def _paced(target: Target, rate: float, n: int) -> None:
    """``n`` requests, the i-th sent at start + i / rate whatever the others do."""
    async with httpx.AsyncClient(headers=target.headers, timeout=30) as client:
        await client.get(f"{target.server.v1}/models")  # connect before the clock starts
        start = time.perf_counter()

        async def one(i: int) -> None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            r = await client.get(f"{target.server.v1}/models")
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code == 200:
                target.latencies_ms.append(elapsed)
            else:
                target.errors += 1

        await asyncio.gather(*(one(i) for i in range(n)))


def _key(server: Server, admin_key: str) -> dict[str, str]:
    r = httpx.post(
        f"{server.v1}/admin/api-keys",
        json={"name": "bench", "requests_per_minute": 10_000_000, "tokens_per_minute": 10**9},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL).ping())
    except redis.RedisError:
        return False


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--requests", type=int, default=1000, help="per server and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres", action="store_true", help="also accounts on PostgreSQL (tests' server)"
    )
    a = parser.parse_args()

    common = ("--threads", "1", "--parallel", "1", "--ctx-size", "256")
    procs = []
    cleanups: list[Iterator[str]] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc, server = start_server(*common)
            procs.append(proc)
            targets.append(Target("--no-auth", server, {"Authorization": "Bearer any"}))
            setups = [("accounts, limits in memory", {})]
            redis_env = {
                "AUTAN_REDIS_URL": REDIS_URL,
                "AUTAN_ACCOUNTS__REDIS_PREFIX": f"autan-bench-{os.getpid()}:",
            }
            if _redis_up():
                setups.append(("accounts, limits in Redis", redis_env))
            if a.postgres:
                postgres = fresh_postgres()
                url = next(postgres)
                cleanups.append(postgres)
                setups.append(
                    (
                        "accounts on PostgreSQL, limits in Redis",
                        {**redis_env, "AUTAN_DATABASE_URL": url},
                    )
                )
            for i, (label, env) in enumerate(setups):
                data_dir = Path(tmp) / str(i)
                proc, server = start_server(
                    *common, "--data-dir", str(data_dir), auth=True, env=env
                )
                procs.append(proc)
                admin = (data_dir / "admin_key").read_text().strip()
                targets.append(Target(label, server, _key(server, admin)))
            for r in range(a.rounds):
                order = targets[r % len(targets) :] + targets[: r % len(targets)]
                for target in order:
                    asyncio.run(_paced(target, a.rate, a.requests))
        finally:
            for proc in procs:
                stop_server(proc)
            for cleanup in cleanups:
                next(cleanup, None)  # drops the database

    base = statistics.median(targets[0].latencies_ms)
    print(f"GET /v1/models at {a.rate:g} req/s, {a.requests} requests x {a.rounds} rounds each")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print()
    print("| server | p50 ms | p90 ms | p99 ms | p50 overhead ms | errors |")
    print("|---|---|---|---|---|---|")
    for t in targets:
        p50 = statistics.median(t.latencies_ms)
        print(
            f"| {t.label} | {p50:.2f} | {_pct(t.latencies_ms, 90):.2f} | "
            f"{_pct(t.latencies_ms, 99):.2f} | {p50 - base:+.2f} | {t.errors} |"
        )


if __name__ == "__main__":
    main()
