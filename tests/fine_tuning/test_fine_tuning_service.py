"""The service's naming and ownership rules, without training (a fake engine, no trainer)."""

import asyncio
import re
from pathlib import Path

import pytest

from autan.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    TrainingFileNotFound,
    UnknownModel,
)
from autan.fine_tuning.fine_tuning_job import FineTuningJob, TrainingFileRef
from autan.fine_tuning.fine_tuning_service import FineTuningService, JobRequest
from autan.fine_tuning.lora_adapter import LoraAdapter
from autan.fine_tuning.training_config import ADAPTER_FILE
from autan.settings import FineTuningSettings
from autan.storage.database import Database
from tests.fakes import fake_engine, fake_registry
from tests.fine_tuning.directory_training_files import DirectoryTrainingFiles


@pytest.fixture
def service(tmp_path: Path) -> FineTuningService:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "train.jsonl").write_text("")
    return FineTuningService(
        Database.open(None, tmp_path),
        fake_registry(fake_engine()[0]),
        DirectoryTrainingFiles(tmp_path / "files"),
        FineTuningSettings(),
        tmp_path / "fine_tuning",
    )


def _finish(service: FineTuningService, job: FineTuningJob) -> str:
    """What a successful trainer leaves: an adapter file (empty here, the fake engine ignores
    it); then the job's model is made and served."""
    run_dir = service._work_dir / job.id
    run_dir.mkdir(parents=True)
    LoraAdapter("llama", 16.0, {}).write(run_dir / ADAPTER_FILE)
    return asyncio.run(service._finish(job))


def _request(**fields: object) -> JobRequest:
    base: dict[str, object] = {
        "model": "mistral-small-latest",
        "training_files": [TrainingFileRef("train")],
        "validation_files": [],
        "hyperparameters": {"learning_rate": 1e-4},
    }
    return JobRequest(**{**base, **fields})  # type: ignore[arg-type]


def test_model_ids_follow_mistral_and_belong_to_their_workspace(
    service: FineTuningService,
) -> None:
    job = service.create("ws-1", _request(suffix="pirate"))
    assert job.model == "fake-model"  # the alias resolved
    model_id = _finish(service, job)
    assert re.match(rf"^ft:fake-model:pirate:\d{{8}}:{job.id[:8]}$", model_id)
    plain = _finish(service, service.create("ws-1", _request()))
    assert re.match(r"^ft:fake-model:[0-9a-f]{8}:\d{8}:[0-9a-f]{8}$", plain)

    with pytest.raises(NotFound):
        service.jobs.get(job.id, "ws-2")
    with pytest.raises(NotFound):
        service.update_model("ws-2", model_id, name="mine now")
    with pytest.raises(NotFound):  # not "not a fine-tuned model": it is, but not theirs
        asyncio.run(service.delete_model("ws-2", model_id))
    with pytest.raises(Forbidden):
        asyncio.run(service.delete_model("ws-1", "fake-model"))
    assert service._registry.resolve(model_id).card.adapter is not None
    asyncio.run(service.delete_model("ws-1", model_id))
    assert service.fine_tuned(model_id) is None
    with pytest.raises(UnknownModel):  # 404: served no more
        asyncio.run(service.delete_model("ws-1", model_id))


def test_jobs_need_files_of_their_workspace_and_a_base_chat_model(
    service: FineTuningService,
) -> None:
    with pytest.raises(TrainingFileNotFound):
        service.create("ws-1", _request(training_files=[TrainingFileRef("missing")]))
    with pytest.raises(TrainingFileNotFound):
        service.create("ws-1", _request(validation_files=["../train"]))
    job = service.create("ws-1", _request())
    with pytest.raises(InvalidRequest, match="cannot be fine-tuned"):
        service.create("ws-1", _request(model=_finish(service, job)))
