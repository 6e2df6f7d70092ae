"""Fine-tuned models across processes on one database, each with a work directory of its own
(as on two machines), with a fake engine: a model one trains is served by the other, which
fetches its adapter on the model's first load; deleted through one, the other drops it (and its
copy of the adapter) at its next look."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from autan.errors import ModelLoadFailed, UnknownModel
from autan.fine_tuning.fine_tuned_models import ADAPTERS_DIR
from autan.fine_tuning.fine_tuning_job import TrainingFileRef
from autan.fine_tuning.fine_tuning_service import FineTuningService, JobRequest
from autan.fine_tuning.lora_adapter import LoraAdapter
from autan.fine_tuning.training_config import ADAPTER_FILE
from autan.models.registry import ModelRegistry
from autan.settings import FineTuningSettings
from autan.storage.blob_store import LocalBlobStore
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore
from tests.fakes import FakeLoader, fake_card
from tests.fine_tuning.directory_training_files import DirectoryTrainingFiles


def _node(db: Database, tmp_path: Path, name: str, *, shared: bool = True) -> FineTuningService:
    (tmp_path / "files").mkdir(exist_ok=True)
    (tmp_path / "files" / "train.jsonl").touch()
    registry = ModelRegistry([fake_card("fake-model")], FakeLoader(), max_loaded_memory=1 << 30)
    blobs = DatabaseBlobStore(db) if shared else LocalBlobStore(tmp_path / name / "files")
    return FineTuningService(
        db,
        registry,
        DirectoryTrainingFiles(tmp_path / "files"),
        FineTuningSettings(),
        tmp_path / name / "fine_tuning",
        blobs=blobs,
    )


def _trained(node: FineTuningService) -> str:
    """A job of ``node`` that ends with an adapter; the id of the model it made."""
    job = node.create(
        "ws",
        JobRequest(
            model="fake-model",
            training_files=[TrainingFileRef("train")],
            validation_files=[],
            hyperparameters={},
        ),
    )
    run_dir = node._work_dir / job.id
    run_dir.mkdir(parents=True)
    LoraAdapter("llama", 16.0, {}).write(run_dir / ADAPTER_FILE)
    return asyncio.run(node._finish(job))


def test_a_model_trained_on_one_node_is_served_and_deleted_on_another(
    db: Database, tmp_path: Path
) -> None:
    trainer, other = _node(db, tmp_path, "trainer"), _node(db, tmp_path, "other")
    model_id = _trained(trainer)
    copies = tmp_path / "other" / "fine_tuning" / ADAPTERS_DIR
    assert trainer._registry.resolve(model_id).card.adapter is not None

    async def scenario() -> None:
        await other.served.sync()
        card = other._registry.resolve(model_id).card
        assert card.adapter is not None and card.adapter.parent == copies
        assert not card.adapter.exists()  # fetched on first use only
        async with other._registry.acquire(model_id):
            pass
        LoraAdapter.check(card.adapter)  # fetched whole

        await trainer.delete_model("ws", model_id)
        await other.served.sync()
        with pytest.raises(UnknownModel):
            other._registry.resolve(model_id)
        assert not list(copies.iterdir())

    asyncio.run(scenario())


def test_a_deleted_blob_fails_the_load_instead_of_serving_nothing(
    db: Database, tmp_path: Path
) -> None:
    trainer, other = _node(db, tmp_path, "trainer"), _node(db, tmp_path, "other")
    model_id = _trained(trainer)
    model = trainer.models.get(model_id)
    assert model.adapter_blob is not None
    DatabaseBlobStore(db).delete(model.adapter_blob.key)

    async def scenario() -> None:
        await other.served.sync()
        with pytest.raises(ModelLoadFailed, match="no longer in the shared store"):
            async with other._registry.acquire(model_id):
                pass

    asyncio.run(scenario())


def test_on_a_filesystem_store_the_adapter_stays_in_the_run_directory(
    db: Database, tmp_path: Path
) -> None:
    node = _node(db, tmp_path, "node", shared=False)
    model_id = _trained(node)
    model = node.models.get(model_id)
    assert model.adapter_blob is None
    assert Path(model.adapter_path) == node._work_dir / model.job_id / ADAPTER_FILE
    asyncio.run(node.delete_model("ws", model_id))
    assert not (node._work_dir / model.job_id).exists()
