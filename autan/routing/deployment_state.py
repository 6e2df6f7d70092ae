"""What the router knows of each deployment: its health and the requests it is answering.

A failing deployment (no connection, a timeout, 5xx, 429) is cooled down, for twice as long at
each failure in a row (``Retry-After`` when the upstream gives a longer one), then waits for an
active probe to bring it back: requests never find out for themselves that it is still down.

``LocalState`` keeps this in the process. ``RedisState`` shares it through Redis between every
autan process of a cluster: a cooldown one process sees holds for all of them at once, and
``max_concurrent`` counts the requests of all of them; one process (holding a lease in Redis)
runs the probes for the cluster.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)

HealthState = Literal["healthy", "cooling", "probing"]
FIRST_COOLDOWN = 1.0
MAX_COOLDOWN = 60.0


@dataclass(slots=True)
class Health:
    failures: int = 0  # in a row
    down_until: float = 0.0  # wall-clock time; 0 while healthy
    last_error: str | None = None
    last_error_at: float | None = None

    def state(self, now: float) -> HealthState:
        if self.failures == 0:
            return "healthy"
        return "cooling" if now < self.down_until else "probing"

    def failed(self, error: str, retry_after: float | None, now: float) -> None:
        self.failures += 1
        backoff = min(MAX_COOLDOWN, FIRST_COOLDOWN * 2 ** (self.failures - 1))
        self.down_until = now + max(backoff, retry_after or 0.0)
        self.last_error = error[:500]
        self.last_error_at = now


class RoutingState(Protocol):
    def health(self, name: str) -> Health: ...

    def outstanding(self, name: str) -> int:
        """Requests in flight on ``name`` (of the whole cluster, as last seen)."""
        ...

    async def acquire(self, name: str, limit: int | None) -> str | None:
        """A slot on ``name``, or None when ``limit`` requests already run there; the slot's
        token is given back to ``release``."""
        ...

    async def release(self, name: str, token: str) -> None: ...

    async def failed(self, name: str, error: str, retry_after: float | None) -> None: ...

    async def recovered(self, name: str) -> None: ...

    async def refresh(self, names: list[str]) -> None:
        """Read what other processes changed (nothing to do in one process)."""
        ...

    async def may_probe(self) -> bool:
        """Whether this process runs the cluster's probes now."""
        ...

    async def close(self) -> None: ...


class LocalState:
    """One process's view, in memory."""

    def __init__(self) -> None:
        self._health: dict[str, Health] = {}
        self._outstanding: dict[str, int] = {}

    def health(self, name: str) -> Health:
        return self._health.setdefault(name, Health())

    def outstanding(self, name: str) -> int:
        return self._outstanding.get(name, 0)

    async def acquire(self, name: str, limit: int | None) -> str | None:
        running = self._outstanding.get(name, 0)
        if limit is not None and running >= limit:
            return None
        self._outstanding[name] = running + 1
        return ""

    async def release(self, name: str, token: str) -> None:
        self._outstanding[name] = max(0, self._outstanding.get(name, 0) - 1)

    async def failed(self, name: str, error: str, retry_after: float | None) -> None:
        self.health(name).failed(error, retry_after, time.time())

    async def recovered(self, name: str) -> None:
        health = self.health(name)
        health.failures = 0
        health.down_until = 0.0

    async def refresh(self, names: list[str]) -> None:
        return None

    async def may_probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None


# Takes a slot unless ``limit`` are taken; slots of processes that died expire with the
# request's deadline. KEYS[1]: the slots' sorted set. ARGV: now, expiry, token, limit (0: none).
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if tonumber(ARGV[4]) > 0 and n >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil((ARGV[2] - ARGV[1]) * 1000) + 1000)
return n + 1
"""


class RedisState(LocalState):
    """The cluster's view, shared through Redis (``redis.asyncio``); the local copy is what
    routing reads, refreshed from Redis every ``refresh`` call."""

    def __init__(self, url: str, prefix: str, *, slot_seconds: float = 600.0) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self._prefix = f"{prefix}routing:"
        self._slot_seconds = slot_seconds
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def _key(self, name: str, what: str) -> str:
        return f"{self._prefix}{what}:{name}"

    async def acquire(self, name: str, limit: int | None) -> str | None:
        now = time.time()
        token = uuid.uuid4().hex
        count = await self._acquire(
            keys=[self._key(name, "slots")],
            args=[now, now + self._slot_seconds, token, limit or 0],
        )
        if int(count) < 0:
            self._outstanding[name] = limit or 0
            return None
        self._outstanding[name] = int(count)
        return token

    async def release(self, name: str, token: str) -> None:
        await self._redis.zrem(self._key(name, "slots"), token)
        self._outstanding[name] = max(0, self._outstanding.get(name, 0) - 1)

    async def failed(self, name: str, error: str, retry_after: float | None) -> None:
        await self.refresh([name])
        health = self.health(name)
        health.failed(error, retry_after, time.time())
        await self._redis.set(self._key(name, "health"), json.dumps(asdict(health)))

    async def recovered(self, name: str) -> None:
        await super().recovered(name)
        await self._redis.delete(self._key(name, "health"))

    async def refresh(self, names: list[str]) -> None:
        if not names:
            return
        now = time.time()
        pipe = self._redis.pipeline()
        for name in names:
            pipe.get(self._key(name, "health"))
            pipe.zremrangebyscore(self._key(name, "slots"), "-inf", now)
            pipe.zcard(self._key(name, "slots"))
        values = await pipe.execute()
        for i, name in enumerate(names):
            raw, _, count = values[3 * i : 3 * i + 3]
            self._health[name] = Health(**json.loads(raw)) if raw else Health()
            self._outstanding[name] = int(count)

    async def may_probe(self) -> bool:
        key = f"{self._prefix}prober"
        if await self._redis.set(key, self._me, nx=True, px=3000):
            return True
        holder = await self._redis.get(key)
        if isinstance(holder, bytes):
            holder = holder.decode()
        if holder == self._me:
            await self._redis.pexpire(key, 3000)
            return True
        return False

    async def close(self) -> None:
        await self._redis.aclose()
