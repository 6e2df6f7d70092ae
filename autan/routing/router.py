"""Every served name, resolved to its deployments; each request sent to one of them.

Rules, and why (docs/routing.md has the figures):

- **Least outstanding requests, power of two choices, by weight.** Two deployments drawn at
  random (by weight); the one with fewer requests in flight per unit of weight gets it. LLM
  requests vary a thousandfold in length, so round robin piles long ones on one replica; two
  random choices come close to the best choice at the cost of two lookups.
- **Prefix affinity with bounded load.** A request whose prompt starts like a recent one goes
  to the deployment that served it, whose KV cache already holds that prefix (vLLM's and
  llama.cpp's prefix caches skip its prefill), unless that deployment runs more than
  ``affinity_load_factor`` times the mean load: then P2C decides, so a hot prefix never
  swamps one replica.
- **Retries and fallbacks only before the first byte.** A stream is handed to the client once
  its first chunk is in; a non-stream reply once it is whole. Before that, a failing
  deployment is cooled down and the next one tried, then the model's ``fallbacks``, all
  within the request's deadline; after that, an answer is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import random
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from autan.backends.backend import Backend, Reply
from autan.backends.local import LOCAL, LocalBackend
from autan.backends.remote import RemoteBackend, prompt_estimate
from autan.chat.admission import Admission
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingAdmission, EmbeddingService
from autan.errors import (
    AutanError,
    Forbidden,
    InvalidRequest,
    InvalidUpstreamReply,
    ModelLoadFailed,
    NoDeploymentAvailable,
    Overloaded,
    UnknownModel,
    UpstreamError,
)
from autan.fim.service import FimService
from autan.inference.sequence import Priority
from autan.models.card import ModelCard, ModelKind
from autan.models.registry import ModelRegistry
from autan.observability.deployment_metrics import DeploymentMetrics, UpstreamOutcome
from autan.observability.request_context import current_request
from autan.observability.tracing import child_span
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse, CompletionChunk
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from autan.protocol.fim import FIMCompletionRequest
from autan.routing.deployment_state import LocalState, RoutingState
from autan.settings import RequestLimits, RoutingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Route:
    """A served model and where it is answered."""

    id: str
    kind: ModelKind
    backends: list[Backend]
    fallbacks: tuple[str, ...] = ()
    card: ModelCard | None = None
    weights: list[float] = field(default_factory=list)
    limits: list[int | None] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def local(self) -> bool:
        return len(self.backends) == 1 and self.backends[0].name == LOCAL


class _Slot:
    """A request's place on a deployment; given back once, when its reply ends."""

    def __init__(self, state: RoutingState | None, name: str, token: str) -> None:
        self._held: list[tuple[RoutingState, str, str]] = (
            [] if state is None else [(state, name, token)]
        )

    def release(self) -> None:
        _release(self._held)


def _release(held: list[tuple[RoutingState, str, str]]) -> None:
    while held:
        state, name, token = held.pop()
        with contextlib.suppress(RuntimeError):  # no loop left: the slot expires by itself
            asyncio.get_running_loop().create_task(state.release(name, token))


class Router:
    """Resolves names and runs each request's attempts. Local models keep their direct path:
    a local model without fallbacks costs one dictionary lookup more than before."""

    def __init__(
        self,
        registry: ModelRegistry,
        chat: ChatService,
        fim: FimService,
        embeddings: EmbeddingService | None,
        settings: RoutingSettings,
        limits: RequestLimits,
        state: RoutingState | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.registry = registry
        self._chat = chat
        self._fim = fim
        self._embeddings = embeddings
        self.settings = settings
        self._limits = limits
        self.state: RoutingState = state or LocalState()
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
            follow_redirects=False,
        )
        self._routes: dict[str, Route] = {}  # routed names
        self._local: dict[str, Route] = {}  # local names, made on first use
        self._affinity: OrderedDict[str, str] = OrderedDict()
        self._prober: asyncio.Task[None] | None = None
        self.fallbacks_used = 0
        self.metrics: DeploymentMetrics | None = None  # set when /metrics is on

    # -- the served names ---------------------------------------------------------------

    def set_routed(self, cards: list[ModelCard]) -> None:
        """Serve these routed models from now on (the models file changed): requests in
        flight finish where they are."""
        routes: dict[str, Route] = {}
        for card in cards:
            backends: list[Backend] = [
                RemoteBackend(card, d, self._client, self._limits) for d in card.deployments
            ]
            route = Route(
                card.id,
                card.kind,
                backends,
                card.fallbacks,
                card,
                [d.weight for d in card.deployments],
                [d.max_concurrent for d in card.deployments],
            )
            routes.update(dict.fromkeys(card.names, route))
        self._routes = routes
        self._local.clear()

    def routed(self) -> list[Route]:
        """Each routed model once, in declared order."""
        seen: dict[str, Route] = {}
        for route in self._routes.values():
            seen.setdefault(route.id, route)
        return list(seen.values())

    def route(self, name: str) -> Route:
        route = self._routes.get(name) or self._local.get(name)
        if route is not None:
            return route
        if self._embeddings is not None and self._embeddings.serves(name):
            route = Route(self._embeddings.id, "embedding", [self._local_backend(None)])
        else:
            card = self.registry.resolve(name).card  # UnknownModel when nothing serves it
            route = Route(card.id, card.kind, [self._local_backend(card)], card.fallbacks, card)
        self._local[name] = route
        return route

    def card_of(self, name: str) -> ModelCard | None:
        """The card of the model served under ``name`` (None for the embedding model)."""
        return self.route(name).card

    def _local_backend(self, card: ModelCard | None) -> LocalBackend:
        from autan.models.card import Capabilities

        caps = card.capabilities if card is not None else Capabilities()
        return LocalBackend(caps, self._chat, self._fim, self._embeddings)

    def serves(self, name: str, kind: ModelKind = "chat") -> bool:
        try:
            return self.route(name).kind == kind
        except UnknownModel:
            return False

    # -- requests -----------------------------------------------------------------------

    async def complete_chat(
        self,
        req: ChatCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        async def attempt(backend: Backend, model: str) -> ChatCompletionResponse:
            reply = await backend.start_chat(_named(req, model), admission, priority)
            return await reply.response()

        need = _need(req)
        return await self._run(req.model, "chat", attempt, priority, _affinity_key(req), need)

    async def stream_chat(
        self, req: ChatCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        async def attempt(backend: Backend, model: str) -> Reply:
            return await backend.start_chat(_named(req, model), admission, Priority.INTERACTIVE)

        return await self._stream(req.model, attempt, _affinity_key(req), _need(req))

    async def complete_fim(
        self,
        req: FIMCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        async def attempt(backend: Backend, model: str) -> ChatCompletionResponse:
            named = req.model_copy(update={"model": model})
            return await (await backend.start_fim(named, admission, priority)).response()

        return await self._run(req.model, "chat", attempt, priority, None)

    async def stream_fim(
        self, req: FIMCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        async def attempt(backend: Backend, model: str) -> Reply:
            named = req.model_copy(update={"model": model})
            return await backend.start_fim(named, admission, Priority.INTERACTIVE)

        return await self._stream(req.model, attempt, None)

    async def embed(
        self, req: EmbeddingRequest, admission: EmbeddingAdmission | None = None
    ) -> EmbeddingResponse:
        async def attempt(backend: Backend, model: str) -> EmbeddingResponse:
            return await backend.embed(req.model_copy(update={"model": model}), admission)

        return await self._run(req.model, "embedding", attempt, Priority.INTERACTIVE, None)

    async def _stream(
        self,
        name: str,
        attempt: Callable[[Backend, str], Awaitable[Reply]],
        affinity: list[str] | None,
        need: int = 0,
    ) -> AsyncIterator[CompletionChunk]:
        slot_box: list[_Slot] = []
        reply = await self._run(
            name, "chat", attempt, Priority.INTERACTIVE, affinity, need, slot_box
        )
        chunks = _released_after(reply.chunks(), slot_box)
        # A stream dropped before its first chunk never runs its ``finally``.
        weakref.finalize(chunks, _release_all, list(slot_box)).atexit = False
        return chunks

    async def _run(
        self,
        name: str,
        kind: ModelKind,
        attempt: Callable[[Backend, str], Awaitable[T]],
        priority: Priority,
        affinity: list[str] | None,
        need: int = 0,
        keep_slot: list[_Slot] | None = None,
    ) -> T:
        """Try the model's deployments, then its fallbacks', until one answers. With
        ``keep_slot``, the deployment's slot is handed over (a stream holds it until its end);
        otherwise it is given back when ``attempt`` returns. ``need``: about how many tokens
        the request holds; deployments with a shorter context are passed over."""
        route = self.route(name)
        if route.kind != kind:
            if kind == "embedding" or route.card is None:
                raise UnknownModel(name)  # no model of that kind has that name
            raise InvalidRequest(
                f"Model {name} (kind {route.kind!r}) cannot serve {kind} requests", param="model"
            )
        if route.local and not route.fallbacks:
            return await attempt(route.backends[0], name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.retry_deadline
        last: AutanError | None = None
        attempts = 0
        invalid_left = self.settings.invalid_reply_retries
        too_long = False
        for position, model in enumerate((name, *route.fallbacks)):
            if position > 0:
                try:
                    route = self.route(model)
                except UnknownModel:
                    continue
                self.fallbacks_used += 1
                if self.metrics is not None:
                    self.metrics.fallback(name)
                log.warning("model %s: falling back to %s (%s)", name, model, last)
            tried: set[str] = set()
            while loop.time() < deadline:
                fits = [
                    b.context_length is None or b.context_length >= need for b in route.backends
                ]
                too_long = too_long or not all(fits)
                picked = await self._pick(route, tried, priority, affinity, deadline, fits)
                if picked is None:
                    break
                backend, slot = picked
                tried.add(backend.name)
                attempts += 1
                try:
                    if backend.name == LOCAL:
                        result = await attempt(backend, model)
                    else:
                        with child_span(
                            "routed call",
                            {"gen_ai.request.model": model, "autan.deployment": backend.name},
                        ):
                            result = await attempt(backend, model)
                        self._count(route.id, backend.name, "success")
                except InvalidUpstreamReply as e:
                    self._count(route.id, backend.name, "error")
                    slot.release()
                    last = e
                    log.warning("%s", e.message)
                    if invalid_left <= 0:
                        raise
                    invalid_left -= 1
                    tried.discard(backend.name)  # may be asked again: replies vary
                    continue
                except UpstreamError as e:
                    self._count(route.id, backend.name, _outcome(e))
                    slot.release()
                    if not e.retryable:
                        raise
                    last = e
                    log.warning("%s", e.message)
                    await self.state.failed(backend.name, e.upstream_message, e.retry_after)
                    if self.metrics is not None:
                        self.metrics.set_healthy(route.id, backend.name, False)
                    continue
                except (Overloaded, ModelLoadFailed) as e:
                    slot.release()
                    last = e
                    continue
                except (Forbidden, UnknownModel):
                    slot.release()
                    if position == 0:
                        raise
                    break  # a fallback this key may not use: the next one
                except BaseException:
                    slot.release()
                    raise
                if affinity is not None and backend.name != LOCAL:
                    self._remember(affinity, backend.name)
                answered = current_request()
                if answered is not None and backend.name != LOCAL:
                    answered.deployment = backend.name  # for the request log
                if keep_slot is None:
                    slot.release()
                else:
                    keep_slot.append(slot)
                return result
        if attempts == 1 and isinstance(last, Overloaded | ModelLoadFailed):
            raise last  # a local model alone: its own answer
        if attempts == 0 and too_long:
            raise InvalidRequest(
                f"The request holds about {need} tokens (prompt + max_tokens), more than any "
                f"deployment of model {name} takes. Shorten it or lower max_tokens.",
                param="messages",
                code="context_length_exceeded",
            )
        raise NoDeploymentAvailable(
            name,
            last.message if last is not None else "every deployment is cooling down",
            self._retry_after(),
        )

    def _count(self, model: str, deployment: str, outcome: UpstreamOutcome) -> None:
        if self.metrics is not None and deployment != LOCAL:
            self.metrics.upstream_request(model, deployment, outcome)

    def _retry_after(self) -> int:
        now = time.time()
        waits = [
            self.state.health(b.name).down_until - now
            for r in self.routed()
            for b in r.backends
            if self.state.health(b.name).failures
        ]
        return max(1, math.ceil(min(waits))) if waits else 1

    async def _pick(
        self,
        route: Route,
        tried: set[str],
        priority: Priority,
        affinity: list[str] | None,
        deadline: float,
        fits: list[bool],
    ) -> tuple[Backend, _Slot] | None:
        """A deployment not tried yet, healthy, with room; waits for room while every
        healthy one is full. None when there is none left."""
        if route.local:
            backend = route.backends[0]
            return (backend, _Slot(None, "", "")) if backend.name not in tried else None
        loop = asyncio.get_running_loop()
        now = time.time()
        while True:
            candidates = [
                i
                for i, b in enumerate(route.backends)
                if fits[i]
                and b.name not in tried
                and self.state.health(b.name).state(now) == "healthy"
            ]
            if not candidates:
                return None
            for i in self._order(route, candidates, affinity):
                backend = route.backends[i]
                limit = route.limits[i]
                if limit is not None and priority is Priority.BATCH:
                    # Batch lines leave a share of each deployment to interactive requests.
                    limit = max(1, math.floor(limit * self.settings.batch_share))
                token = await self.state.acquire(backend.name, limit)
                if token is not None:
                    return backend, _Slot(self.state, backend.name, token)
            if loop.time() + 0.02 >= deadline:
                return None
            await asyncio.sleep(0.02)
            now = time.time()

    def _order(self, route: Route, candidates: list[int], affinity: list[str] | None) -> list[int]:
        """The candidates in the order to try them: the affine one if not overloaded, then
        the less loaded of two random ones (by weight), then the rest."""
        if len(candidates) == 1:
            return candidates

        def load(i: int) -> float:
            return (self.state.outstanding(route.backends[i].name) + 1) / route.weights[i]

        first: int | None = None
        if affinity is not None and self.settings.affinity:
            owner = next(
                (o for o in map(self._affinity.get, reversed(affinity)) if o is not None), None
            )
            for i in candidates:
                if route.backends[i].name == owner:
                    mean = sum(load(j) for j in candidates) / len(candidates)
                    if load(i) <= self.settings.affinity_load_factor * mean:
                        first = i
                    break
        if first is None:
            a, b = _two_by_weight(candidates, [route.weights[i] for i in candidates])
            first = a if load(a) <= load(b) else b
        return [first, *sorted((i for i in candidates if i != first), key=load)]

    def _remember(self, keys: list[str], deployment: str) -> None:
        for key in keys:
            self._affinity[key] = deployment
            self._affinity.move_to_end(key)
        while len(self._affinity) > self.settings.affinity_entries:
            self._affinity.popitem(last=False)

    # -- health -------------------------------------------------------------------------

    def start(self) -> None:
        if self._prober is None:
            self._prober = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Read the cluster's view, and probe what is down once its cooldown has passed."""
        while True:
            try:
                routes = self.routed()
                names = [b.name for r in routes for b in r.backends]
                await self.state.refresh(names)
                now = time.time()
                due = [
                    b
                    for r in routes
                    for b in r.backends
                    if isinstance(b, RemoteBackend)
                    and self.state.health(b.name).state(now) == "probing"
                ]
                if due and await self.state.may_probe():
                    await asyncio.gather(*(self._probe(b) for b in due))
                if self.metrics is not None:
                    now = time.time()
                    for r in routes:
                        for b in r.backends:
                            healthy = self.state.health(b.name).state(now) == "healthy"
                            self.metrics.set_healthy(r.id, b.name, healthy)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not stop the probes for good
                log.exception("routing health check failed")
            await asyncio.sleep(self.settings.probe_interval)

    async def _probe(self, backend: RemoteBackend) -> None:
        try:
            await backend.probe()
        except UpstreamError as e:
            await self.state.failed(backend.name, e.upstream_message, e.retry_after)
            return
        log.info("deployment %s answers again: taken back", backend.name)
        await self.state.recovered(backend.name)

    def deployments(self) -> list[dict[str, object]]:
        """Each routed deployment's state, load and last error (``/health``, ``autan
        backends``)."""
        now = time.time()
        out: list[dict[str, object]] = []
        for route in self.routed():
            for i, backend in enumerate(route.backends):
                health = self.state.health(backend.name)
                out.append(
                    {
                        "model": route.id,
                        "deployment": backend.name,
                        "state": health.state(now),
                        "outstanding": self.state.outstanding(backend.name),
                        "max_concurrent": route.limits[i],
                        "weight": route.weights[i],
                        "failures": health.failures,
                        "cooldown_seconds": max(0.0, round(health.down_until - now, 3)),
                        "last_error": health.last_error,
                        "last_error_at": health.last_error_at,
                    }
                )
        return out

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
        await self._client.aclose()
        await self.state.close()


def _need(req: ChatCompletionRequest) -> int:
    """About how many tokens the request holds: its prompt and the most it may generate."""
    return prompt_estimate(req) + (req.max_tokens or 0)


def _outcome(error: UpstreamError) -> UpstreamOutcome:
    status = error.upstream_status
    if status == 429:
        return "rate_limited"
    if status == 503:
        return "overloaded"
    if error.timed_out:
        return "timeout"
    return "error"


def _named(req: ChatCompletionRequest, model: str) -> ChatCompletionRequest:
    return req if req.model == model else req.model_copy(update={"model": model})


def _two_by_weight(candidates: list[int], weights: list[float]) -> tuple[int, int]:
    a = random.choices(range(len(candidates)), weights)[0]
    rest = [i for i in range(len(candidates)) if i != a]
    b = random.choices(rest, [weights[i] for i in rest])[0]
    return candidates[a], candidates[b]


# A prompt's start is read in blocks, as engines cache it: a request matches a recent one on
# the longest run of whole blocks they share.
_BLOCK_CHARS = 256
_BLOCKS = 16


def _affinity_key(req: ChatCompletionRequest) -> list[str] | None:
    """The hashes of the prompt's first whole blocks, each covering all before it; None
    for a prompt shorter than one block (nothing worth keeping a cache for)."""
    parts: list[str] = []
    size = 0
    for msg in req.messages:
        content = getattr(msg, "content", None)
        text = content if isinstance(content, str) else ""
        parts.append(f"{msg.role}\x00{text}\x00")
        size += len(text) + 2 + len(msg.role)
        if size >= _BLOCK_CHARS * _BLOCKS:
            break
    joined = "".join(parts).encode()
    blocks = min(_BLOCKS, len(joined) // _BLOCK_CHARS)
    if blocks == 0:
        return None
    digest = hashlib.blake2b(digest_size=12)
    keys = []
    for i in range(blocks):
        digest.update(joined[i * _BLOCK_CHARS : (i + 1) * _BLOCK_CHARS])
        keys.append(digest.hexdigest())
    return keys


def _release_all(slots: list[_Slot]) -> None:
    for slot in slots:
        slot.release()


async def _released_after(
    chunks: AsyncIterator[CompletionChunk], slots: list[_Slot]
) -> AsyncIterator[CompletionChunk]:
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        for slot in slots:
            slot.release()


__all__ = ["Route", "Router", "prompt_estimate"]
