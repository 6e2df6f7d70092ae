"""How autan scales out over gateways on one PostgreSQL and one Redis, on a fast fake engine.

    .venv/bin/python -m benchmarks.scale --rounds 3 --duration 4 --rate 500 --streams 2000

One stand-in upstream (``tests/standin/platform.py``: it answers at once with ``--tokens``
tokens) is the engine behind every gateway: a routed model (backend ``openai``), so a request
costs the gateway its HTTP, auth, limits, usage and routing, and no inference. A second
stand-in holds every stream open after its first event: the model ``idle``, whose deployment
waits a day between tokens (its ``token_timeout``; 60 s by default would cut them).

Started once: three ``autan serve --no-jobs`` with API keys on one fresh PostgreSQL database
and one Redis prefix (the platform of docs/deploy.md), and one ``autan serve --no-auth`` on
the same models (no keys, no limits, no usage: what the accounts cost is the difference).

Each round, in an order that rotates from round to round:

- closed loop, ``--concurrency`` requests in flight, non-streamed chat completions with a key:
  through the first gateway alone, then spread evenly over the three (round robin, as a load
  balancer would); requests per second, p50 and p99;
- open loop at ``--rate`` requests per second (sent on time whatever the server does): the
  stand-in called directly, the ``--no-auth`` gateway, the first gateway with its key. The
  p99 that auth, limits and usage add is the keyed gateway's p99 minus the ``--no-auth``
  one's in the same round; the figure is the median over rounds.

With ``--redis-delay-ms``, the keyed gateways reach Redis through a proxy that holds each
request that long (``benchmarks/delay_proxy.py``): what a slow or distant Redis does to them.

Then once: ``--streams`` streams of ``idle`` opened on the first gateway (``--opening`` at a
time), held ``--hold`` seconds, counted (answered 200 and not closed since), and the gateway's
resident memory read from /proc before they open, while they are held and after they close.

Every process shares this machine's CPUs: on a small machine three gateways, the stand-ins,
PostgreSQL, Redis and this load generator compete, and the three-gateway figure says what the
machine can do, not what three machines would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.delay_proxy import DelayProxy
from benchmarks.gateway_overhead import cpu_model
from benchmarks.rawload import (
    Connection,
    Endpoint,
    Sample,
    closed_loop_spread,
    median,
    open_loop,
    run,
)
from tests.databases import REDIS_URL, fresh_postgres, redis_prefix
from tests.standin.process import free_port, start_platform, stop_platform

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say hello in a few words."}]
MODELS = """\
[[models]]
id = "routed"
[[models.deployments]]
backend = "openai"
url = "{fast}"
upstream_model = "fake"

[[models]]
id = "idle"
[[models.deployments]]
backend = "openai"
url = "{idle}"
upstream_model = "fake"
token_timeout = 86400
total_timeout = 86400
"""


@dataclass
class Gateway:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    headers: dict[str, str] = field(default_factory=dict)

    def endpoint(self, model: str = "routed", stream: bool = False) -> Endpoint:
        body = {"model": model, "messages": MESSAGES, "max_tokens": 16, "stream": stream}
        return Endpoint.post_json(f"{self.url}/v1/chat/completions", body, self.headers)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for process {self.proc.pid}")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{url} exited with {proc.returncode}; its log ends:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} was not ready in 180 s")


def start_gateway(
    name: str, workdir: Path, models: Path, env: dict[str, str], *, auth: bool
) -> Gateway:
    port = free_port()
    data_dir = workdir / name
    log_path = workdir / f"{name}.log"
    cmd = [
        sys.executable, "-m", "autan.cli.main", "serve", "--port", str(port),
        "--data-dir", str(data_dir), "--models-file", str(models), "--no-embeddings",
        "--no-jobs", "--log-level", "warning", *(() if auth else ("--no-auth",)),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    gateway = Gateway(name, f"http://127.0.0.1:{port}", proc)
    try:
        _wait_healthy(gateway.url, proc, log_path)
    except BaseException:
        stop(proc)
        raise
    return gateway


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def new_key(gateway: Gateway, admin_key: str) -> dict[str, str]:
    r = httpx.post(
        f"{gateway.url}/v1/admin/api-keys",
        json={"name": "bench", "requests_per_minute": 10_000_000, "tokens_per_minute": 10**9},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}


@dataclass
class Figures:
    """One Sample per round, by measurement."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, name: str, sample: Sample) -> None:
        self.samples.setdefault(name, []).append(sample)

    def med(self, name: str, what: Callable[[Sample], float]) -> float:
        return median([what(s) for s in self.samples[name]])


def measure_rounds(
    one: Gateway, three: list[Gateway], bare: Gateway, direct: Endpoint, a: argparse.Namespace
) -> Figures:
    figures = Figures()
    steps: list[tuple[str, Callable[[], object]]] = [
        ("one gateway", lambda: closed_loop_spread([one.endpoint()], a.concurrency, a.duration)),
        (
            "three gateways",
            lambda: closed_loop_spread([g.endpoint() for g in three], a.concurrency, a.duration),
        ),
        ("direct", lambda: open_loop(direct, a.rate, a.duration)),
        ("no-auth gateway", lambda: open_loop(bare.endpoint(), a.rate, a.duration)),
        ("keyed gateway", lambda: open_loop(one.endpoint(), a.rate, a.duration)),
    ]
    for r in range(a.rounds):
        k = r % len(steps)
        for name, coroutine in steps[k:] + steps[:k]:
            sample = run(coroutine())
            assert isinstance(sample, Sample)
            figures.add(name, sample)
            print(
                f"round {r + 1} {name:16}: {sample.completed_per_s:6.0f}/s done, p50 "
                f"{sample.p(50):7.2f} p99 {sample.p(99):7.2f} ms, {sample.errors} errors, "
                f"{sample.dropped} dropped",
                flush=True,
            )
    return figures


async def _still_open(conn: Connection) -> bool:
    """Read what the stream has sent so far; False once the server has closed it."""
    while True:
        try:
            data = await asyncio.wait_for(conn.reader.read(1 << 16), 0.005)
        except TimeoutError:
            return True  # nothing more to read, and no end: open, waiting
        except OSError:
            return False
        if not data:
            return False


async def hold_streams(gateway: Gateway, a: argparse.Namespace) -> dict[str, float]:
    """Open ``a.streams`` idle streams on ``gateway``, hold them, close them; the counts and
    the gateway's memory."""
    endpoint = gateway.endpoint("idle", stream=True)
    before = gateway.rss_kib()
    gate = asyncio.Semaphore(a.opening)
    held: list[Connection] = []
    refused = 0

    async def one() -> None:
        nonlocal refused
        async with gate:
            conn: Connection | None = None
            try:
                conn = await Connection.open(endpoint)
                conn.writer.write(endpoint.request)
                head = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), 60)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                refused += 1
                if conn is not None:
                    conn.close()
                return
            if head.split(b" ", 2)[1] == b"200":
                held.append(conn)
            else:
                refused += 1
                conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(a.streams)))
    opened_s = time.perf_counter() - start
    await asyncio.sleep(a.hold)
    during = gateway.rss_kib()
    still = sum(await asyncio.gather(*(_still_open(c) for c in held)))
    for conn in held:
        conn.close()
    await asyncio.sleep(3)  # the gateway cancels the upstream streams of closed clients
    after = gateway.rss_kib()
    return {
        "asked": a.streams,
        "opened": len(held),
        "refused_or_failed": refused,
        "open_after_hold": still,
        "seconds_to_open": opened_s,
        "rss_before_mib": before / 1024,
        "rss_held_mib": during / 1024,
        "rss_after_close_mib": after / 1024,
        "kib_per_stream": (during - before) / max(1, len(held)),
    }


def report(
    figures: Figures, streams: dict[str, float] | None, a: argparse.Namespace
) -> dict[str, object]:
    result: dict[str, object] = {}
    print(
        f"\nClosed loop, {a.concurrency} in flight, non-streamed chat with a key "
        f"(medians over {a.rounds} rounds)"
    )
    print("| gateways | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for name in ("one gateway", "three gateways"):
        row = {
            "req_s": figures.med(name, lambda s: s.completed_per_s),
            "p50_ms": figures.med(name, lambda s: s.p(50)),
            "p99_ms": figures.med(name, lambda s: s.p(99)),
            "errors": sum(s.errors for s in figures.samples[name]),
        }
        result[name] = row
        print(
            f"| {name} | {row['req_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['errors']} |"
        )
    ratio = median(
        [
            t.completed_per_s / o.completed_per_s
            for o, t in zip(
                figures.samples["one gateway"], figures.samples["three gateways"], strict=True
            )
        ]
    )
    result["three_over_one"] = ratio
    print(f"- three gateways / one: {ratio:.2f}x (median of the per-round ratios)")

    print(f"\nOpen loop at {a.rate:g} requests/s, non-streamed chat (medians over rounds)")
    print("| target | done/s | p50 ms | p99 ms | failed or dropped |")
    print("|---|---|---|---|---|")
    for name in ("direct", "no-auth gateway", "keyed gateway"):
        row = {
            "done_s": figures.med(name, lambda s: s.completed_per_s),
            "p50_ms": figures.med(name, lambda s: s.p(50)),
            "p99_ms": figures.med(name, lambda s: s.p(99)),
            "failed": sum(s.errors + s.dropped for s in figures.samples[name]),
        }
        result[name] = row
        print(
            f"| {name} | {row['done_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['failed']} |"
        )
    for q in (50, 99):
        added = median(
            [
                k.p(q) - b.p(q)
                for k, b in zip(
                    figures.samples["keyed gateway"],
                    figures.samples["no-auth gateway"],
                    strict=True,
                )
            ]
        )
        result[f"accounts_added_p{q}_ms"] = added
        print(
            f"- p{q} added by auth, limits and usage (keyed - no-auth, same round): {added:+.2f} ms"
        )

    if streams is not None:
        result["idle_streams"] = streams
        print(
            f"\nIdle streams on one gateway: {streams['opened']:.0f} of {streams['asked']:.0f} "
            f"opened in {streams['seconds_to_open']:.1f} s, {streams['open_after_hold']:.0f} "
            f"still open after {a.hold:g} s, {streams['refused_or_failed']:.0f} failed"
        )
        print(
            f"- gateway RSS {streams['rss_before_mib']:.1f} MiB before, "
            f"{streams['rss_held_mib']:.1f} MiB holding them, "
            f"{streams['rss_after_close_mib']:.1f} MiB after they closed: "
            f"{streams['kib_per_stream']:.1f} KiB a stream"
        )
    return result


@dataclass
class _Stack:
    """Everything started, to stop in the end whatever happened."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    standins: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cleanups: list[Iterator[str]] = field(default_factory=list)

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
        for proc in self.standins:
            stop_platform(proc)
        for cleanup in reversed(self.cleanups):
            next(cleanup, None)  # drops the database, deletes the Redis keys


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=48, help="closed loop, in flight")
    parser.add_argument("--rate", type=float, default=500.0, help="open loop, requests/s")
    parser.add_argument("--tokens", type=int, default=16, help="tokens in each upstream reply")
    parser.add_argument("--streams", type=int, default=2000, help="idle streams; 0: skip")
    parser.add_argument("--opening", type=int, default=100, help="streams opening at once")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the streams are held")
    parser.add_argument(
        "--redis-delay-ms",
        type=float,
        default=0.0,
        help="hold every Redis request this long (a proxy in front of Redis): a slow Redis",
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    a = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}, "
        f"Python {sys.version.split()[0]}"
    )
    stack = _Stack()
    with tempfile.TemporaryDirectory(prefix="autan-scale-bench-") as tmp:
        workdir = Path(tmp)
        try:
            fast_proc, fast = start_platform("--tokens", str(a.tokens))
            stack.standins.append(fast_proc)
            idle_proc, idle = start_platform("--tokens", "4", "--token-delay-ms", "86400000")
            stack.standins.append(idle_proc)
            models = workdir / "models.toml"
            models.write_text(MODELS.format(fast=fast.v1, idle=idle.v1))
            postgres = fresh_postgres()
            stack.cleanups.append(postgres)
            prefixes = redis_prefix()
            stack.cleanups.append(prefixes)
            env = {
                "AUTAN_DATABASE_URL": next(postgres),
                "AUTAN_REDIS_URL": (
                    DelayProxy(REDIS_URL, a.redis_delay_ms).url if a.redis_delay_ms else REDIS_URL
                ),
                "AUTAN_ACCOUNTS__REDIS_PREFIX": next(prefixes),
            }
            three: list[Gateway] = []
            for name in ("gw-1", "gw-2", "gw-3"):  # the first migrates and makes the admin key
                three.append(start_gateway(name, workdir, models, env, auth=True))
                stack.procs.append(three[-1].proc)
            bare = start_gateway("no-auth", workdir, models, {}, auth=False)
            stack.procs.append(bare.proc)
            admin = (workdir / "gw-1" / "admin_key").read_text().strip()
            headers = new_key(three[0], admin)
            for g in three:
                g.headers = headers
            bare.headers = {"Authorization": "Bearer any"}
            direct = Endpoint.post_json(
                f"{fast.v1}/chat/completions",
                {"model": "fake", "messages": MESSAGES, "max_tokens": 16},
            )
            for g in [*three, bare]:  # one request each must succeed before anything is timed
                check = run(open_loop(g.endpoint(), 5, 0.4, warm=1))
                assert isinstance(check, Sample)
                if check.errors or not check.latencies_ms:
                    raise RuntimeError(f"{g.name} fails requests; see {workdir / g.name}.log")
            figures = measure_rounds(three[0], three, bare, direct, a)
            held = run(hold_streams(three[0], a)) if a.streams else None
            assert held is None or isinstance(held, dict)
            result = report(figures, held, a)
            if a.json:
                a.json.write_text(json.dumps(result, indent=2))
        finally:
            stack.close()


if __name__ == "__main__":
    main()
