"""One request's passage through its key's limits, and what it took.

A ``Meter`` is made once the key is known. It takes one unit from the key's request bucket; a
completion then reserves its most tokens (prompt + max_tokens) from the token bucket, and its
most cost from the workspace's monthly spend, before anything is queued; when it ends, what was
not used goes back. The ``x-ratelimit-*`` headers are set as each limit is checked, so they
exist before a stream's first byte.

``admit`` and ``settle`` are coroutines: their Redis and database calls run in a worker
thread, where a slow Redis or PostgreSQL holds one request, not the event loop and every
request with it. Each runs to its end even when its request is cancelled meanwhile, so what
was reserved always goes back (``limit_request`` is called from the key lookup's thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from autan.accounts.api_key import ApiKey, SpendLimit
from autan.accounts.gcra import Decision
from autan.accounts.prices import Price
from autan.accounts.usage_ledger import UsageRecord
from autan.chat.admission import AdmittedModel
from autan.errors import Forbidden, RateLimited, UnknownModel
from autan.protocol.chat import UsageInfo
from autan.storage.tables import utcnow

if TYPE_CHECKING:
    from autan.accounts.accounts import Accounts

log = logging.getLogger(__name__)


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month_start(now: datetime) -> datetime:
    start = _month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def _off_loop(call: Callable[[], None]) -> asyncio.Future[None]:
    """``call`` on the event loop's worker threads (``asyncio.to_thread``'s, bounded), with
    the caller's context."""
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(None, functools.partial(contextvars.copy_context().run, call))


def _log_failure(work: asyncio.Future[None]) -> None:
    if not work.cancelled() and (error := work.exception()) is not None:
        log.error("giving back a cancelled request's reservation failed: %r", error)


@dataclass(slots=True)
class _Reservation:
    tokens: int = 0
    workspace_tokens: int = 0
    cost: float = 0.0
    spend_bucket: str | None = None


class Meter:
    def __init__(
        self, accounts: Accounts, key: ApiKey, endpoint: str, *, batch: bool = False
    ) -> None:
        self._accounts = accounts
        self.key = key
        self.endpoint = endpoint
        self.batch = batch
        self.headers: dict[str, str] = {}
        self.model: str | None = None
        # The deployment that answered (``local``: this server's engine), and its own price.
        self.deployment: str | None = None
        self._price: Price | None = None
        self.usage = UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        self.cost = 0.0
        self._started = time.perf_counter()
        self._reserved: _Reservation | None = None
        defaults = accounts.settings
        self._rpm = key.requests_per_minute or defaults.default_requests_per_minute
        self._tpm = key.tokens_per_minute or defaults.default_tokens_per_minute
        # Shared by every key of the workspace, on top of the key's own.
        self._workspace_rpm = key.workspace_requests_per_minute
        self._workspace_tpm = key.workspace_tokens_per_minute
        if batch:  # batch lines do not count against real-time limits (spend limits still hold)
            self._rpm = self._tpm = self._workspace_rpm = self._workspace_tpm = None

    # A bucket's state is a time, which means a different thing under another limit: a
    # changed limit starts a fresh bucket.
    @property
    def _token_bucket(self) -> str:
        return f"{self.key.id}:tokens:{self._tpm}"

    @property
    def _workspace_token_bucket(self) -> str:
        return f"{self.key.workspace_id}:workspace-tokens:{self._workspace_tpm}"

    def _show(self, kind: str, decision: Decision) -> None:
        self.headers[f"x-ratelimit-limit-{kind}-minute"] = str(decision.limit)
        self.headers[f"x-ratelimit-remaining-{kind}-minute"] = str(decision.remaining)

    def limit_request(self) -> None:
        """Count this request against the key's requests per minute; 429 past the limit."""
        limits = self._accounts.limits
        if self._tpm is not None:
            self._show("tokens", limits.peek(self._token_bucket, self._tpm))
        bucket = f"{self.key.id}:requests:{self._rpm}"
        if self._rpm is not None:
            decision = limits.take(bucket, self._rpm, 1)
            self._show("req", decision)
            if not decision.allowed:
                raise RateLimited(
                    f"Requests rate limit exceeded: {self._rpm} per minute for this key",
                    retry_after=decision.retry_after_s,
                    code="requests_rate_limited",
                )
        if self._workspace_rpm is None:
            return
        shared = f"{self.key.workspace_id}:workspace-requests:{self._workspace_rpm}"
        decision = limits.take(shared, self._workspace_rpm, 1)
        if not decision.allowed:
            if self._rpm is not None:
                limits.refund(bucket, self._rpm, 1)  # not served: the key's request comes back
            raise RateLimited(
                f"Requests rate limit exceeded: {self._workspace_rpm} per minute for this "
                "key's workspace",
                retry_after=decision.retry_after_s,
                code="requests_rate_limited",
            )

    async def admit(
        self, model: AdmittedModel, requested: str, prompt_tokens: int, max_new_tokens: int
    ) -> None:
        if model.workspace is not None and model.workspace != self.key.workspace_id:
            raise UnknownModel(requested)  # another workspace's model is not there for this key
        self.deployment = model.deployment
        self._price = None if model.price is None else Price(*model.price)
        await self._reserving(
            functools.partial(
                self._admit, model.id, model.aliases, requested, prompt_tokens, max_new_tokens
            )
        )

    async def admit_embedding(
        self, model_id: str, aliases: Sequence[str], requested: str, most_tokens: int
    ) -> None:
        """Reserve for embedding inputs of at most ``most_tokens`` tokens, or raise; the
        real count comes with ``settle``."""
        await self._reserving(
            functools.partial(self._admit, model_id, aliases, requested, most_tokens, 0)
        )

    async def _reserving(self, reserve: Callable[[], None]) -> None:
        """``reserve`` in a worker thread. A request cancelled while it runs gives back what
        it reserved as soon as it is done."""
        work = _off_loop(reserve)
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            work.add_done_callback(self._give_back_cancelled)
            raise

    def _give_back_cancelled(self, reserved: asyncio.Future[None]) -> None:
        if reserved.cancelled() or reserved.exception() is not None:
            return  # nothing was reserved, or it was given back already (a refusal)
        _off_loop(functools.partial(self._give_back, 0, 0.0)).add_done_callback(_log_failure)

    def _admit(
        self,
        model_id: str,
        aliases: Sequence[str],
        requested: str,
        prompt_tokens: int,
        max_new_tokens: int,
    ) -> None:
        if not self.key.allows(requested, model_id, *aliases):
            raise Forbidden(f"This API key may not use model {requested}", param="model")
        self.model = model_id
        reservation = _Reservation()
        if self._tpm is not None:
            # A reply may be longer than a whole minute's tokens (no max_tokens on a small
            # limit): it then waits for a full bucket, and only it can overshoot.
            reservation.tokens = min(prompt_tokens + max_new_tokens, self._tpm)
            decision = self._accounts.limits.take(self._token_bucket, self._tpm, reservation.tokens)
            self._show("tokens", decision)
            if not decision.allowed:
                raise RateLimited(
                    f"Tokens rate limit exceeded: {self._tpm} per minute for this key; this "
                    f"request needs {reservation.tokens} (prompt + max_tokens)",
                    retry_after=decision.retry_after_s,
                    code="tokens_rate_limited",
                )
        if self._workspace_tpm is not None:
            reservation.workspace_tokens = min(prompt_tokens + max_new_tokens, self._workspace_tpm)
            decision = self._accounts.limits.take(
                self._workspace_token_bucket, self._workspace_tpm, reservation.workspace_tokens
            )
            if not decision.allowed:
                if self._tpm is not None:
                    self._accounts.limits.refund(self._token_bucket, self._tpm, reservation.tokens)
                raise RateLimited(
                    f"Tokens rate limit exceeded: {self._workspace_tpm} per minute for this "
                    f"key's workspace; this request needs {reservation.workspace_tokens} "
                    "(prompt + max_tokens)",
                    retry_after=decision.retry_after_s,
                    code="tokens_rate_limited",
                )
        self._reserved = reservation
        try:
            self._reserve_spend(model_id, reservation, prompt_tokens, max_new_tokens)
        except RateLimited:
            self._give_back(0, 0.0)
            raise

    def _reserve_spend(
        self, model_id: str, reservation: _Reservation, prompt_tokens: int, max_new_tokens: int
    ) -> None:
        now = utcnow()
        workspace_id = self.key.workspace_id
        reservation.spend_bucket = f"{workspace_id}:spend:{now:%Y-%m}"
        spend = self.key.workspace_spend  # read with the key: no query on the event loop
        if spend is None:
            spend = SpendLimit(self._accounts.workspaces.get(workspace_id).spend_limit)
        spend_limit = spend.amount
        if spend_limit is None:
            return
        price = self._price_of(model_id)
        most = price.cost(prompt_tokens, max_new_tokens, batch=self.batch)
        total = self._accounts.limits.reserve_spend(
            reservation.spend_bucket,
            spend_limit,
            most,
            lambda: self._accounts.usage.spent(workspace_id, _month_start(now)),
        )
        if total is None:
            wait = (_next_month_start(now) - now).total_seconds()
            raise RateLimited(
                f"The workspace's monthly spend limit of {spend_limit:g} "
                f"{self._accounts.settings.currency} is reached",
                retry_after=int(wait) + 1,
                code="spend_limit_exceeded",
            )
        reservation.cost = most

    def _price_of(self, model_id: str) -> Price:
        return self._price or self._accounts.prices.for_model(model_id)

    async def settle(self, usage: UsageInfo) -> None:
        """The request is over and ``usage`` is what it took: the cost is known at once, and
        what was reserved and not used goes back (in a worker thread, and to the end even if
        the caller is cancelled meanwhile)."""
        self.usage = usage
        if self.model is not None:
            price = self._price_of(self.model)
            self.cost = price.cost(usage.prompt_tokens, usage.completion_tokens, batch=self.batch)
        if self._reserved is None:
            return
        work = _off_loop(functools.partial(self._give_back, usage.total_tokens, self.cost))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            work.add_done_callback(_log_failure)
            raise

    def _give_back(self, used_tokens: int, cost: float) -> None:
        reservation, self._reserved = self._reserved, None
        if reservation is None:
            return
        limits = self._accounts.limits
        if self._tpm is not None and reservation.tokens > used_tokens:
            limits.refund(self._token_bucket, self._tpm, reservation.tokens - used_tokens)
        if self._workspace_tpm is not None and reservation.workspace_tokens > used_tokens:
            limits.refund(
                self._workspace_token_bucket,
                self._workspace_tpm,
                reservation.workspace_tokens - used_tokens,
            )
        if reservation.spend_bucket is not None and cost != reservation.cost:
            limits.add_spend(reservation.spend_bucket, cost - reservation.cost)

    def record(self, status: int) -> UsageRecord:
        return UsageRecord(
            created_at=utcnow(),
            key_id=self.key.id,
            workspace_id=self.key.workspace_id,
            endpoint=self.endpoint[:64],
            model=self.model,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens or 0,
            cost=self.cost,
            latency_ms=(time.perf_counter() - self._started) * 1000,
            status=status,
            batch=self.batch,
        )
