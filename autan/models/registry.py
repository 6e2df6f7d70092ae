"""The declared models, by id and alias: loaded on first use, unloaded least recently used first.

Every request holds its model between ``acquire`` and the end of its reply. Before a model
loads, idle models are unloaded, least recently used first, until the loaded models' estimated
memory plus the new one's fits ``max_loaded_memory``. A model with requests in flight is never
unloaded: when only busy models stand in the way, the load waits for one of them to go idle.
A model that alone exceeds the budget still loads, with a warning, once nothing else is loaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from autan.errors import Conflict, InvalidRequest, ModelLoadFailed, UnknownModel
from autan.inference.engine import Engine
from autan.models.card import ModelCard, ModelKind
from autan.models.mistral_tokenizer import MistralTokenizer

if TYPE_CHECKING:
    from autan.chat.formats import ModelFormats

log = logging.getLogger(__name__)

ModelState = Literal["unloaded", "loading", "loaded"]
DEFAULT_TEMPERATURE = 0.7


@dataclass(slots=True)
class ServedModel:
    """A loaded model: its names, its engine, how it is prompted and what its card says."""

    id: str
    engine: Engine
    formats: ModelFormats  # built with the engine: a model loaded again gets new ones
    aliases: list[str] = field(default_factory=list)
    description: str | None = None
    default_temperature: float = DEFAULT_TEMPERATURE
    # Set for models with a Mistral tokenizer: their prompts are built by mistral-common.
    mistral_tokenizer: MistralTokenizer | None = None
    workspace: str | None = None  # the only workspace whose keys may use it; None: all
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def max_context_length(self) -> int:
        return self.engine.context

    @property
    def deployment(self) -> str:
        return "local"

    @property
    def price(self) -> tuple[float, float] | None:
        return None  # the card's, through ``accounts.prices``


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What loading a card will give, known before loading it."""

    context: int  # cells per sequence: the card's max_context_length
    memory_bytes: int  # weights + KV cache, counted against max_loaded_memory
    description: str | None = None
    fim: bool = False  # the GGUF declares FIM tokens: /v1/fim/completions works on it


class ModelLoader(Protocol):
    """Turns cards into engines: ``models.loader.LocalLoader`` in production, fakes in tests."""

    def plan(self, card: ModelCard) -> LoadPlan:
        """Size the model without loading it; raises when its file cannot be read."""
        ...

    def load(self, card: ModelCard, plan: LoadPlan) -> ServedModel:
        """Load the weights and start an engine. Runs in a worker thread."""
        ...


@dataclass(slots=True, eq=False)
class RegisteredModel:
    """A declared model and, while it is loaded, its engine."""

    card: ModelCard
    plan: LoadPlan
    created: int = field(default_factory=lambda: int(time.time()))
    served: ServedModel | None = None
    loading: asyncio.Task[ServedModel] | None = None
    users: int = 0  # requests holding it, and requests waiting for it to load
    last_used: int = 0
    loads: int = 0
    unloads: int = 0
    retired: bool = False  # unregistered: closes when its last request ends

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def state(self) -> ModelState:
        if self.served is not None:
            return "loaded"
        return "loading" if self.loading is not None else "unloaded"


class ModelLease:
    """A loaded model held by one request; releasing twice is harmless."""

    def __init__(self, model: ServedModel, release: Callable[[], None]) -> None:
        self.model = model
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release()


class ModelRegistry:
    """Resolves a requested name (id or alias) to its model, loading it when first used."""

    def __init__(
        self, cards: list[ModelCard], loader: ModelLoader, *, max_loaded_memory: int
    ) -> None:
        self.max_loaded_memory = max_loaded_memory
        self._loader = loader
        self._models: list[RegisteredModel] = []
        self._by_name: dict[str, RegisteredModel] = {}
        self._load_lock = asyncio.Lock()  # one load (and its evictions) at a time
        self._idle = asyncio.Event()  # set when a model's last request releases it
        self._clock = 0
        self._closed = False
        # Called with each model as it loads, on the event loop (metrics attach to its engine).
        self.on_load: list[Callable[[ServedModel], None]] = []
        # Called with each card just before it loads, in the loading thread: what a card needs
        # on local disk first (a fine-tuned model's adapter, fetched from the shared store).
        # OSError or ValueError: the load fails (``ModelLoadFailed``).
        self.before_load: list[Callable[[ModelCard], None]] = []
        for card in cards:
            for name in card.names:
                if name in self._by_name:
                    raise ValueError(f"model name {name!r} is served twice")
            model = RegisteredModel(card, loader.plan(card))
            self._models.append(model)
            self._by_name.update(dict.fromkeys(card.names, model))

    def register(self, card: ModelCard) -> RegisteredModel:
        """Declare one more model while serving (a fine-tuned model); loaded on first use."""
        for name in card.names:
            if name in self._by_name:
                raise ValueError(f"model name {name!r} is served twice")
        model = RegisteredModel(card, self._loader.plan(card))
        self._models.append(model)
        self._by_name.update(dict.fromkeys(card.names, model))
        return model

    def unregister(self, name: str) -> None:
        """Stop serving a model: new requests get 404; requests in flight finish, then its
        engine closes."""
        model = self.resolve(name)
        self._models.remove(model)
        for alias in model.card.names:
            self._by_name.pop(alias, None)
        model.retired = True
        self._close_if_retired(model)

    def _close_if_retired(self, model: RegisteredModel) -> None:
        if model.retired and model.users == 0 and model.served is not None:
            served, model.served = model.served, None
            served.engine.close()

    def resolve(self, name: str) -> RegisteredModel:
        """The model declared under ``name``, loaded or not."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(name) from None

    def card_of(self, name: str) -> ModelCard:
        return self.resolve(name).card

    def __iter__(self) -> Iterator[RegisteredModel]:
        return iter(self._models)

    @property
    def loaded_bytes(self) -> int:
        return sum(m.plan.memory_bytes for m in self._models if m.served is not None)

    async def lease(self, name: str, kind: ModelKind = "chat") -> ModelLease:
        """Hold the model for ``name``, loaded; ``release()`` the lease when the request ends.

        Loads the model first if needed; requests arriving meanwhile wait for the same load.
        """
        model = self.resolve(name)
        if model.card.kind != kind:
            raise InvalidRequest(
                f"Model {name} (kind {model.card.kind!r}) cannot serve {kind} requests",
                param="model",
            )
        model.users += 1
        try:
            served = model.served if model.served is not None else await self._loaded(model)
        except BaseException:
            self._release(model)
            raise
        self._touch(model)
        return ModelLease(served, lambda: self._release(model))

    @asynccontextmanager
    async def acquire(self, name: str, kind: ModelKind = "chat") -> AsyncIterator[ServedModel]:
        """The loaded model for ``name``, held until the block ends."""
        lease = await self.lease(name, kind)
        try:
            yield lease.model
        finally:
            lease.release()

    async def load(self, name: str) -> RegisteredModel:
        """Load the model for ``name`` now, as its first request would (making room the same
        way); nothing to do when it is loaded."""
        model = self.resolve(name)
        async with self.acquire(model.id, model.card.kind):
            pass
        return model

    async def unload(self, name: str) -> RegisteredModel:
        """Unload the model for ``name`` now; its next request loads it again. A Conflict while
        it loads or requests hold it (it would be unloaded under them)."""
        model = self.resolve(name)
        async with self._load_lock:
            if model.loading is not None or model.users:
                raise Conflict(
                    f"Model {model.id} is {model.state} and held by {model.users} request(s); "
                    "unload it once they end"
                )
            served, model.served = model.served, None
            if served is None:
                return model
            model.unloads += 1
            log.info("unloading %s (asked for)", model.id)
            # Under the lock: no load starts until this model's memory is free.
            await asyncio.to_thread(served.engine.close)
        return model

    async def preload(self) -> None:
        """Load the cards marked ``preload``, in declared order."""
        for model in self._models:
            if model.card.preload:
                async with self.acquire(model.id, model.card.kind):
                    pass

    def close(self) -> None:
        self._closed = True
        for model in self._models:
            if model.served is not None:
                model.served.engine.close()
                model.served = None

    def _release(self, model: RegisteredModel) -> None:
        model.users -= 1
        self._touch(model)
        if model.users == 0:
            self._close_if_retired(model)
            self._idle.set()

    def _touch(self, model: RegisteredModel) -> None:
        self._clock += 1
        model.last_used = self._clock

    async def _loaded(self, model: RegisteredModel) -> ServedModel:
        if model.loading is None:
            model.loading = asyncio.create_task(self._load(model))
            # A load whose waiters were all cancelled still ends; its error is read here.
            model.loading.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Shielded: a waiter that gives up does not cancel the load the others wait for.
        return await asyncio.shield(model.loading)

    async def _load(self, model: RegisteredModel) -> ServedModel:
        try:
            async with self._load_lock:
                if self._closed:
                    raise ModelLoadFailed(model.id, "the server is shutting down")
                await self._make_room(model)
                log.info("loading %s (%d MiB estimated)", model.id, model.plan.memory_bytes >> 20)
                try:
                    served = await asyncio.to_thread(self._prepare_and_load, model)
                except (OSError, ValueError, RuntimeError) as e:
                    log.error("loading %s failed: %s", model.id, e)
                    raise ModelLoadFailed(model.id, str(e)) from e
                if self._closed:
                    served.engine.close()
                    raise ModelLoadFailed(model.id, "the server is shutting down")
                model.served = served
                model.loads += 1
                for hook in self.on_load:
                    hook(served)
                return served
        finally:
            model.loading = None

    def _prepare_and_load(self, model: RegisteredModel) -> ServedModel:
        for hook in self.before_load:
            hook(model.card)
        return self._loader.load(model.card, model.plan)

    async def _make_room(self, model: RegisteredModel) -> None:
        need = model.plan.memory_bytes
        while True:
            loaded = [m for m in self._models if m.served is not None]
            used = sum(m.plan.memory_bytes for m in loaded)
            if used + need <= self.max_loaded_memory:
                return
            if not loaded:
                log.warning(
                    "%s needs about %d MiB, more than --max-loaded-memory (%d MiB); "
                    "loading it anyway as the only loaded model",
                    model.id,
                    need >> 20,
                    self.max_loaded_memory >> 20,
                )
                return
            idle = [m for m in loaded if m.users == 0]
            if idle:
                await self._unload(min(idle, key=lambda m: m.last_used), model)
                continue
            log.info("%s waits for a loaded model to finish its requests", model.id)
            self._idle.clear()
            await self._idle.wait()

    async def _unload(self, victim: RegisteredModel, incoming: RegisteredModel) -> None:
        served, victim.served = victim.served, None
        assert served is not None, "only loaded models are unloaded"
        victim.unloads += 1
        log.info("unloading %s (least recently used) to make room for %s", victim.id, incoming.id)
        await asyncio.to_thread(served.engine.close)
