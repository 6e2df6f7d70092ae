"""The models file, followed while serving: an edit (``autan models add`` included) reaches the
running server within ``routing.reload_interval`` seconds, without a restart.

Routed models are replaced whole (requests in flight finish where they are). Local models
declared in the file are registered or unregistered as entries come and go; models registered
by the server itself (fine-tuned ones) are left alone. A file that does not read is logged and
ignored: the server keeps what it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from autan.errors import ModelsFileError
from autan.models.card import ModelCard
from autan.models.models_file import ModelsFile
from autan.models.registry import ModelRegistry
from autan.routing.router import Router

log = logging.getLogger(__name__)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ModelsWatch:
    def __init__(self, path: Path, cards: list[ModelCard], interval: float) -> None:
        self.path = path
        self.interval = interval
        self._local = {c.id: c for c in cards if not c.routed}
        self._stamp = _stamp(path)
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0

    def start(self, registry: ModelRegistry, router: Router) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(registry, router))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self, registry: ModelRegistry, router: Router) -> None:
        while True:
            await asyncio.sleep(self.interval)
            stamp = await asyncio.to_thread(_stamp, self.path)
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            try:
                cards = await asyncio.to_thread(ModelsFile(self.path).read)
                self.apply(cards, registry, router)
            except (ModelsFileError, ValueError, OSError) as e:
                log.error("models file not reloaded, keeping the models served: %s", e)

    def apply(self, cards: list[ModelCard], registry: ModelRegistry, router: Router) -> None:
        """Serve ``cards`` from now on."""
        local = {c.id: c for c in cards if not c.routed}
        for model_id, card in self._local.items():
            if local.get(model_id) != card:
                with contextlib.suppress(Exception):
                    registry.unregister(model_id)
        for model_id, card in local.items():
            if self._local.get(model_id) != card:
                registry.register(card)
        self._local = local
        router.set_routed([c for c in cards if c.routed])
        self.reloads += 1
        log.info(
            "models file reloaded: %d local, %d routed models",
            len(local),
            sum(1 for c in cards if c.routed),
        )
