"""A lean HTTP/1.1 load generator on raw asyncio streams, for benchmarks where the client shares
two cores with the servers it measures: open loop (requests sent at a fixed rate whatever the
server does) and closed loop (a fixed number of requests in flight).

A request's latency runs from the moment it was due (open loop) or sent (closed loop) to the last
byte of the reply: the whole JSON body, or the stream's last chunk. TTFT is the time to the first
stream event that carries non-empty content.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_CONTENT = re.compile(rb'"content":\s*"[^"]')
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Endpoint:
    """One POST, prepared once as bytes: the URL's host and port, and the request itself."""

    host: str
    port: int
    request: bytes
    stream: bool

    @classmethod
    def post_json(
        cls, url: str, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> Endpoint:
        parts = urlsplit(url)
        data = json.dumps(body).encode()
        lines = [
            f"POST {parts.path or '/'} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        return cls(
            parts.hostname or "127.0.0.1", parts.port or 80, request, bool(body.get("stream"))
        )


class _Stale(Exception):
    """A kept-alive connection the server had closed: the request is sent again on a new one."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    @classmethod
    async def open(cls, endpoint: Endpoint) -> Connection:
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, limit=1 << 20)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, endpoint: Endpoint) -> tuple[int, float | None, bool, bool]:
        """Send the request, read the whole reply: (status, TTFT moment or None, whether the
        stream ended with ``[DONE]``, whether the connection may be kept)."""
        self.writer.write(endpoint.request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            if self.reused:
                raise _Stale from e
            raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        keep = headers.get("connection") != "close"
        first: float | None = None
        done = False
        if headers.get("transfer-encoding") == "chunked":
            tail = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                data = (await self.reader.readexactly(size + 2))[:-2]
                if first is None and _CONTENT.search(data):
                    first = time.perf_counter()
                tail = (tail + data)[-64:]
            done = b"[DONE]" in tail
        elif "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
            done = not endpoint.stream or b"[DONE]" in data[-64:]
            if endpoint.stream and _CONTENT.search(data):
                first = time.perf_counter()
        else:
            data = await self.reader.read()
            done = not endpoint.stream or b"[DONE]" in data[-64:]
            keep = False
        self.reused = True
        return status, first, done, keep


class Pool:
    """Kept-alive connections to one endpoint, the most recently used first."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.idle: list[Connection] = []

    async def warm(self, n: int) -> None:
        for c in await asyncio.gather(*(Connection.open(self.endpoint) for _ in range(n))):
            self.idle.append(c)

    async def request(self) -> tuple[int, float | None, bool]:
        for _ in range(2):
            conn = self.idle.pop() if self.idle else await Connection.open(self.endpoint)
            try:
                status, first, done, keep = await conn.exchange(self.endpoint)
            except _Stale:
                conn.close()
                continue
            except BaseException:
                conn.close()
                raise
            if keep:
                self.idle.append(conn)
            else:
                conn.close()
            return status, first, done
        raise ConnectionError("the server closed two connections in a row")

    def close(self) -> None:
        for c in self.idle:
            c.close()
        self.idle.clear()


@dataclass
class Sample:
    """What one run measured: latencies and TTFTs of the successful requests, in ms."""

    latencies_ms: list[float] = field(default_factory=list)
    ttfts_ms: list[float] = field(default_factory=list)
    errors: int = 0
    dropped: int = 0  # open loop: due while ``max_in_flight`` requests were still in flight
    wall_s: float = 0.0

    @property
    def completed_per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def p(self, q: float, ttft: bool = False) -> float:
        return percentile(self.ttfts_ms if ttft else self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


async def _timed(pool: Pool, due: float, sample: Sample, timeout_s: float = TIMEOUT_S) -> None:
    try:
        status, first, done = await asyncio.wait_for(pool.request(), timeout_s)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        sample.errors += 1
        return
    end = time.perf_counter()
    if status != 200 or not done:
        sample.errors += 1
        return
    sample.latencies_ms.append((end - due) * 1000)
    if first is not None:
        sample.ttfts_ms.append((first - due) * 1000)


async def open_loop(
    endpoint: Endpoint,
    rate: float,
    duration_s: float,
    warm: int = 4,
    max_in_flight: int = 256,
    timeout_s: float = 15.0,
) -> Sample:
    """``rate`` requests per second for ``duration_s``, the i-th due at start + i / rate. A
    server that falls behind is not waited for: a request due while ``max_in_flight`` are in
    flight is dropped (counted, not sent), one slower than ``timeout_s`` is an error."""
    pool = Pool(endpoint)
    await pool.warm(warm)
    sample = Sample()
    tasks: set[asyncio.Task[None]] = set()
    n = max(1, round(rate * duration_s))
    start = time.perf_counter() + 0.01
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_in_flight:
            sample.dropped += 1
            continue
        task = asyncio.create_task(_timed(pool, due, sample, timeout_s))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    sample.wall_s = time.perf_counter() - start
    pool.close()
    return sample


async def closed_loop(endpoint: Endpoint, concurrency: int, duration_s: float) -> Sample:
    """``concurrency`` workers, each sending its next request when the last one ends."""
    return await closed_loop_spread([endpoint], concurrency, duration_s)


async def closed_loop_spread(
    endpoints: list[Endpoint], concurrency: int, duration_s: float
) -> Sample:
    """``closed_loop`` over several servers: worker ``i`` sends to ``endpoints[i % n]``, so
    the requests in flight are spread evenly (a load balancer's round robin)."""
    pools = [Pool(e) for e in endpoints]
    shares = [len(range(i, concurrency, len(pools))) for i in range(len(pools))]
    await asyncio.gather(*(pool.warm(n) for pool, n in zip(pools, shares, strict=True) if n))
    sample = Sample()
    start = time.perf_counter()
    stop = start + duration_s

    async def worker(pool: Pool) -> None:
        while time.perf_counter() < stop:
            await _timed(pool, time.perf_counter(), sample)

    await asyncio.gather(*(worker(pools[i % len(pools)]) for i in range(concurrency)))
    sample.wall_s = time.perf_counter() - start
    for pool in pools:
        pool.close()
    return sample


def run(coro: object) -> object:
    """Run with uvloop when it is installed (a cheaper client), else asyncio's loop."""
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
