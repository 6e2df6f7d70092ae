"""What writing each request's usage before its answer ends costs, against buffering it.

    .venv/bin/python -m benchmarks.usage_commit --concurrency 1,16 --requests 500 --rounds 3

In process, no HTTP and no engine: the accounting path of one request as the server runs it
on its event loop (the key looked up, its request and token buckets taken, a reservation made
and settled, the usage record made), ending either with the record buffered for the writer
thread (``buffered``, what autan did before) or committed to the database and awaited
(``durable``, what the server does now before the last byte of an answer). At each
``--concurrency`` that many requests run at once on one event loop, as on a server: at 1 the
latencies are the path's own; above 1 they include waiting for the loop (the key lookups of
the others), and durable commits share transactions. Rounds alternate between the two modes
on each database (SQLite in a temporary directory; PostgreSQL at
``AUTAN_TEST_POSTGRES_URL``, a fresh database), and the figures are over all rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from autan.accounts.accounts import Accounts
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.accounts.memory_limits import MemoryLimits
from autan.protocol.chat import UsageInfo
from autan.settings import AccountsSettings
from autan.storage.database import Database
from tests.databases import fresh_postgres

MODES = ("buffered", "durable")
USAGE = UsageInfo(prompt_tokens=12, completion_tokens=30, total_tokens=42)


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0


async def _request(accounts: Accounts, secret: str, durable: bool) -> float:
    t0 = time.perf_counter()
    key = accounts.authenticate(secret)
    meter = accounts.meter(key, "/v1/chat/completions")
    meter.limit_request()
    await meter.admit_embedding("bench-model", (), "bench-model", 100)
    await meter.settle(USAGE)
    if durable:
        await asyncio.wrap_future(accounts.commit(meter, 200))
    else:
        accounts.record(meter, 200)
    return (time.perf_counter() - t0) * 1000


async def _round(
    accounts: Accounts, secret: str, durable: bool, n: int, concurrency: int, into: Figures
) -> None:
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            into.latencies_ms.append(await _request(accounts, secret, durable))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    into.seconds += time.perf_counter() - start
    into.requests += n
    accounts.usage.flush()  # the buffered mode's writes, outside its clock (a thread does them)


def _databases(tmp: Path, postgres: bool) -> Iterator[tuple[str, str | None]]:
    yield "SQLite", None
    if postgres:
        for url in fresh_postgres():
            yield "PostgreSQL", url


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,16", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=500, help="per mode, level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    a = parser.parse_args()
    levels = [int(c) for c in a.concurrency.split(",")]

    rows: list[tuple[str, int, str, Figures]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in _databases(Path(tmp), not a.no_postgres):
            accounts = Accounts(
                Database.open(url, Path(tmp)),
                MemoryLimits(),
                settings=AccountsSettings(usage_flush_seconds=1.0),
            )
            accounts.usage.start()
            try:
                workspace = accounts.workspaces.default()
                # Limits high enough never to refuse, so every request takes from its buckets.
                _, secret = accounts.keys.create(
                    workspace_id=workspace.id,
                    actor=Actor.command_line(),
                    limits=KeyLimits(requests_per_minute=10**9, tokens_per_minute=10**9),
                )
                figures = {(c, mode): Figures() for c in levels for mode in MODES}
                for r in range(a.rounds):
                    order = MODES if r % 2 == 0 else MODES[::-1]
                    for c in levels:
                        for mode in order:
                            asyncio.run(
                                _round(
                                    accounts,
                                    secret,
                                    mode == "durable",
                                    a.requests,
                                    c,
                                    figures[c, mode],
                                )
                            )
                rows.extend((name, c, mode, figures[c, mode]) for c in levels for mode in MODES)
            finally:
                accounts.close()

    print(f"accounting path, {a.requests} requests x {a.rounds} rounds per mode and level")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print()
    print(
        "| database | at once | usage write | req/s | p50 ms | p99 ms | p50 added ms "
        "| p99 added ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base: dict[tuple[str, int], Figures] = {}
    for name, c, mode, f in rows:
        if mode == "buffered":
            base[name, c] = f
        b = base[name, c]
        print(
            f"| {name} | {c} | {mode} | {f.requests / f.seconds:.0f} | "
            f"{statistics.median(f.latencies_ms):.3f} | {_pct(f.latencies_ms, 99):.3f} | "
            f"{statistics.median(f.latencies_ms) - statistics.median(b.latencies_ms):+.3f} | "
            f"{_pct(f.latencies_ms, 99) - _pct(b.latencies_ms, 99):+.3f} |"
        )


if __name__ == "__main__":
    main()
