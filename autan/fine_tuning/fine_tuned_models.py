"""The fine-tuned models this process serves: every one recorded in the database whose base
model it has, whichever process trained it.

At start, and then every ``models_sync_seconds``, the models recorded in the database are
registered with the model registry, and those deleted through another process unregistered.
A model whose adapter is in the shared blob store (``adapter_blob``) is served from a copy in
``<work_dir>/adapters/<sha256>.gguf``: fetched on its first use, in the loading thread,
streamed to disk and checked (size, sha256, a LoRA GGUF llama.cpp accepts) before llama.cpp
sees it. Deleting a model deletes its record, its blob and this process's copy; the other
processes drop theirs at their next look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from autan.errors import UnknownModel
from autan.fine_tuning.fine_tuning_job import FineTunedModel
from autan.fine_tuning.lora_adapter import LoraAdapter
from autan.fine_tuning.model_store import FineTunedModelStore
from autan.fine_tuning.shared_blobs import BlobRef, SharedBlobs
from autan.models.card import ModelCard
from autan.models.registry import ModelRegistry

log = logging.getLogger(__name__)

ADAPTERS_DIR = "adapters"


class FineTunedModels:
    def __init__(
        self,
        store: FineTunedModelStore,
        registry: ModelRegistry,
        work_dir: Path,
        shared: SharedBlobs | None,
        *,
        sync_seconds: float,
    ) -> None:
        self.store = store
        self._registry = registry
        self._work_dir = work_dir
        self._shared = shared
        self._sync_seconds = sync_seconds
        self._served: dict[str, FineTunedModel] = {}  # registered here, by id
        self._refused: set[str] = set()  # not servable here: said once in the log
        self._task: asyncio.Task[None] | None = None
        registry.before_load.append(self._fetch_adapter)

    def adapter_copy(self, blob: BlobRef) -> Path:
        """Where this process keeps its copy of a shared adapter."""
        return self._work_dir / ADAPTERS_DIR / f"{blob.sha256}.gguf"

    def start(self) -> None:
        """Serve the models recorded now, then keep in step with the database."""
        for model in self.store.all():
            if self.servable(model):
                self.serve(model)
        self._task = asyncio.create_task(self._sync_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def serve(self, model: FineTunedModel) -> None:
        """Register the model (on the event loop, where the registry is used); checked
        first by ``servable``."""
        if model.id in self._served:
            return
        root = self._root(model)
        card = ModelCard(
            id=model.id,
            path=root.gguf_path() if root is not None else Path(model.base_path),
            adapter=self._adapter(model),
            format=root.format if root else "auto",
            context_length=root.context_length if root else None,
            parallel=root.parallel if root else None,
            description=f"{model.root} fine-tuned by job {model.job_id}",
            workspace=model.workspace_id,
        )
        self._registry.register(card)
        self._served[model.id] = model

    async def delete(self, model: FineTunedModel) -> None:
        """Stop serving the model here, delete its record, its shared blob and the files of
        it on this machine."""
        self._forget(model.id)
        await asyncio.to_thread(self.store.delete, model.id)
        await asyncio.to_thread(self._delete_files, model)

    def _delete_files(self, model: FineTunedModel) -> None:
        if model.adapter_blob is None:
            shutil.rmtree(Path(model.adapter_path).parent, ignore_errors=True)
            return
        if self._shared is not None:
            self._shared.delete(model.adapter_blob.key)
        self.adapter_copy(model.adapter_blob).unlink(missing_ok=True)
        # The job's run directory, when it trained here.
        shutil.rmtree(self._work_dir / model.job_id, ignore_errors=True)

    def _forget(self, model_id: str) -> None:
        self._served.pop(model_id, None)
        with contextlib.suppress(UnknownModel):  # not served: refused here
            self._registry.unregister(model_id)

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sync_seconds)
            try:
                await self.sync()
            except SQLAlchemyError as e:  # the database is away: the next look retries
                log.warning("could not list the fine-tuned models: %s", e)
            except Exception:  # the loop outlives one bad look, as the job runner's does
                log.exception("looking for fine-tuned models made or deleted elsewhere failed")

    async def sync(self) -> None:
        """Serve the models recorded since the last look, drop those deleted since."""
        models = {m.id: m for m in await asyncio.to_thread(self.store.all)}
        for model_id in [i for i in self._served if i not in models]:
            gone = self._served[model_id]
            self._forget(model_id)
            if gone.adapter_blob is not None:
                await asyncio.to_thread(self.adapter_copy(gone.adapter_blob).unlink, True)
            log.info("stopped serving %s: it was deleted", model_id)
        new = [m for m in models.values() if m.id not in self._served and m.id not in self._refused]
        for model in new:
            if await asyncio.to_thread(self.servable, model):
                try:
                    self.serve(model)
                except ValueError as e:  # its id is another model's here
                    log.error("not serving %s: %s", model.id, e)
                    self._refused.add(model.id)

    def servable(self, model: FineTunedModel) -> bool:
        """Whether this process can serve the model: its base is here, and its adapter is
        a file llama.cpp accepts (or in the shared store, checked when fetched). Reads files."""
        reason = None
        if self._root(model) is None and not Path(model.base_path).is_file():
            reason = f"its base model {model.root} is not served here"
        elif model.adapter_blob is None:
            # llama.cpp aborts the whole process on some malformed adapters: check the file.
            try:
                LoraAdapter.check(Path(model.adapter_path))
            except (OSError, ValueError) as e:
                reason = f"its adapter cannot be used ({e})"
        if reason is not None:
            if model.id not in self._refused:
                log.error("not serving %s: %s", model.id, reason)
                self._refused.add(model.id)
            return False
        return True

    def _root(self, model: FineTunedModel) -> ModelCard | None:
        try:
            return self._registry.resolve(model.root).card
        except UnknownModel:  # its base left the models file; the GGUF path is kept
            return None

    def _adapter(self, model: FineTunedModel) -> Path:
        if model.adapter_blob is None:
            return Path(model.adapter_path)
        return self.adapter_copy(model.adapter_blob)

    def _fetch_adapter(self, card: ModelCard) -> None:
        """The registry's ``before_load`` hook, in its loading thread: fetch a shared adapter
        this process has no copy of yet."""
        model = self._served.get(card.id)
        if model is None or model.adapter_blob is None or card.adapter is None:
            return
        if card.adapter.is_file():
            return
        if self._shared is None:
            raise FileNotFoundError(
                f"the adapter of {card.id} is in the database blob store, which this process "
                "does not use (files.store is filesystem)"
            )
        try:
            self._shared.download(model.adapter_blob, card.adapter)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"the adapter of {card.id} is no longer in the shared store (the model was "
                "deleted through another process?)"
            ) from None
        try:
            LoraAdapter.check(card.adapter)
        except BaseException:
            card.adapter.unlink(missing_ok=True)
            raise
        log.info("fetched the adapter of %s from the shared store", card.id)
