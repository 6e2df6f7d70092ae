"""Whether this process can answer requests: its database and Redis reachable, its models
marked ``preload`` loaded. Read by ``GET /readyz``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from autan.models.registry import ModelRegistry
from autan.storage.database import Database

# A dependency slower than this to answer counts as unreachable: a probe must answer well
# inside the prober's own timeout (Kubernetes: 1 s by default, usually raised to a few).
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    ok: bool
    detail: str = "ok"


class Readiness:
    """The checks of one process. ``preloaded`` is set once the models marked ``preload``
    have loaded (``Platform.start``); a preload model unloaded later to make room is not a
    reason to leave the load balancer, since only a request routed here would load it again."""

    def __init__(
        self,
        db: Database,
        registry: ModelRegistry,
        redis_url: str | None,
        timeout: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self._db = db
        self._registry = registry
        self._timeout = timeout
        self._redis = (
            None
            if redis_url is None
            else redis.Redis.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        )
        self.preloaded = False

    async def check(self) -> list[ReadinessCheck]:
        """Every check, run at once off the event loop, each bounded by the timeout."""
        checks = [self._check("database", self._ping_database)]
        if self._redis is not None:
            checks.append(self._check("redis", self._ping_redis))
        results = list(await asyncio.gather(*checks))
        results.append(self._models())
        return results

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    async def _check(self, name: str, ping: Callable[[], None]) -> ReadinessCheck:
        try:
            await asyncio.wait_for(asyncio.to_thread(ping), self._timeout)
        except TimeoutError:
            return ReadinessCheck(name, False, f"no answer in {self._timeout:g} s")
        except (OSError, redis.RedisError, SQLAlchemyError) as e:
            return ReadinessCheck(name, False, f"{type(e).__name__}: {_first_line(e)}")
        return ReadinessCheck(name, True)

    def _ping_database(self) -> None:
        with self._db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _ping_redis(self) -> None:
        assert self._redis is not None
        self._redis.ping()

    def _models(self) -> ReadinessCheck:
        waiting = [m.id for m in self._registry if m.card.preload and m.state != "loaded"]
        if not self.preloaded and waiting:
            return ReadinessCheck("models", False, f"loading {', '.join(waiting)}")
        if not self.preloaded:
            return ReadinessCheck("models", False, "starting")
        return ReadinessCheck("models", True)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
