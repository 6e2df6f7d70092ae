"""Fine-tuning jobs end to end: the real job loop, trainer process and engine, on the tiny
SmolLM2-vocabulary model, through raw HTTP and the mistralai SDK."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mistralai import Mistral

from autan.accounts.memory_limits import MemoryLimits
from autan.api.app import create_app
from autan.models.card import ModelCard
from autan.models.loader import LocalLoader
from autan.models.registry import ModelRegistry
from autan.platform import Platform
from autan.settings import EngineSettings, FineTuningSettings, JobsSettings, Settings
from tests.fine_tuning.test_trainer import secret_word_file

pytest.importorskip("peft")

FT_ID = re.compile(r"^ft:tiny:[0-9a-f]{8}:\d{8}:[0-9a-f]{8}$")


class FineTuningApp:
    """An app serving the tiny model for real, with fine-tuning on; files are written into
    the directory its ``TrainingFiles`` reads."""

    def __init__(self, tmp_path: Path, tiny_chat_gguf: Path, model_cache: Path) -> None:
        self.tmp_path = tmp_path
        self.files = tmp_path / "training-files"  # written here, then uploaded
        self.files.mkdir(exist_ok=True)
        self.gguf = tiny_chat_gguf
        self.settings = FineTuningSettings(
            threads=2,
            lora_rank=8,
            lora_alpha=16,
            seq_len=128,
            checkpoints=3,
            poll_seconds=0.1,
            bf16=False,
            model_cache_dir=model_cache,
        )

    def client(self) -> TestClient:
        server = Settings(
            engine=EngineSettings(parallel=2, context_per_sequence=256, threads=1),
            data_dir=self.tmp_path,
            no_auth=True,
            fine_tuning=self.settings,
            jobs=JobsSettings(poll_seconds=0.1),
        )

        def open_platform() -> Platform:
            card = ModelCard(id="tiny", path=self.gguf, aliases=("mistral-small-latest",))
            registry = ModelRegistry([card], LocalLoader(server), max_loaded_memory=1 << 32)
            return Platform.open(server, registry)

        return TestClient(create_app(open_platform))

    def upload(self, client: TestClient, name: str, lines: int = 12) -> str:
        """A training file of ``lines`` examples (unless ``name``.jsonl was written already),
        uploaded through the Files API; its id."""
        path = self.files / f"{name}.jsonl"
        if not path.exists():
            secret_word_file(path, lines)
        r = client.post(
            "/v1/files",
            files={"file": (path.name, path.read_bytes(), "application/jsonl")},
            data={"purpose": "fine-tune"},
        )
        assert r.status_code == 200, r.text
        file_id: str = r.json()["id"]
        return file_id


@pytest.fixture
def ft_app(tmp_path: Path, tiny_chat_gguf: Path, model_cache: Path) -> FineTuningApp:
    return FineTuningApp(tmp_path, tiny_chat_gguf, model_cache)


@pytest.fixture
def client(ft_app: FineTuningApp) -> Iterator[TestClient]:
    with ft_app.client() as c:
        yield c


def wait_for(client: TestClient, job_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/fine_tuning/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}; it is {job['status']}")


def statuses(job: dict[str, Any]) -> list[str]:
    """The status changes, oldest first."""
    return [e["data"]["status"] for e in reversed(job["events"]) if e["name"] == "status-updated"]


def create(client: TestClient, file_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "model": "tiny",
        "training_files": [{"file_id": file_id, "weight": 1}],
        "hyperparameters": {"training_steps": 3, "learning_rate": 3e-3},
        **fields,
    }
    response = client.post("/v1/fine_tuning/jobs", json=body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def test_the_sdk_workflow_from_job_to_chat(ft_app: FineTuningApp, client: TestClient) -> None:
    sdk = Mistral(api_key="any", server_url="http://testserver", client=client)
    train, valid = ft_app.upload(client, "train"), ft_app.upload(client, "valid")
    job = sdk.fine_tuning.jobs.create(
        model="mistral-small-latest",  # an alias: the job names the model itself
        training_files=[{"file_id": train, "weight": 1}],
        validation_files=[valid],
        hyperparameters={"training_steps": 3, "learning_rate": 3e-3},
        auto_start=True,
    )
    assert job.status == "QUEUED"
    assert job.model == "tiny"
    done = wait_for(client, job.id, "SUCCESS", "FAILED")
    job = sdk.fine_tuning.jobs.get(job_id=job.id)
    assert job.status == "SUCCESS", done["events"]
    assert statuses(done) == ["QUEUED", "VALIDATING", "VALIDATED", "RUNNING", "SUCCESS"]
    assert job.fine_tuned_model is not None and FT_ID.match(job.fine_tuned_model)
    assert job.trained_tokens and job.trained_tokens > 0
    assert [c.step_number for c in job.checkpoints or []] == [3, 2, 1]
    for checkpoint in job.checkpoints or []:
        assert checkpoint.metrics.train_loss is not None
        assert checkpoint.metrics.valid_loss is not None
        assert 0 <= (checkpoint.metrics.valid_mean_token_accuracy or 0) <= 1

    listed = sdk.fine_tuning.jobs.list(status="SUCCESS")
    assert listed.total == 1 and listed.data[0].id == job.id

    model_id = job.fine_tuned_model
    card = sdk.models.retrieve(model_id=model_id)
    assert card.type == "fine-tuned"
    assert card.job == job.id and card.root == "tiny"  # type: ignore[union-attr]
    assert model_id in [m.id for m in sdk.models.list().data or []]

    # Served by llama.cpp with the adapter applied (the tiny model's text is noise).
    reply = sdk.chat.complete(
        model=model_id, messages=[{"role": "user", "content": "The secret word?"}], max_tokens=4
    )
    assert reply.model == model_id
    assert reply.usage.completion_tokens > 0

    renamed = sdk.models.update(model_id=model_id, name="secret-word", description="knows it")
    assert (renamed.name, renamed.description, renamed.archived) == (
        "secret-word",
        "knows it",
        False,
    )
    assert sdk.models.archive(model_id=model_id).archived is True
    assert sdk.models.retrieve(model_id=model_id).archived is True  # type: ignore[union-attr]
    assert sdk.models.unarchive(model_id=model_id).archived is False

    assert sdk.models.delete(model_id=model_id).deleted is True
    assert client.get(f"/v1/models/{model_id}").status_code == 404
    gone = client.post(
        "/v1/chat/completions",
        json={"model": model_id, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert gone.status_code == 404


def test_a_job_waits_for_start_unless_auto_start(client: TestClient, ft_app: FineTuningApp) -> None:
    job = create(client, ft_app.upload(client, "train"))
    assert job["auto_start"] is False
    job = wait_for(client, job["id"], "VALIDATED")
    assert job["hyperparameters"]["training_steps"] == 3
    assert job["metadata"]["data_tokens"] > 0
    time.sleep(0.5)  # the loop has looked at it again, and left it alone
    assert client.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["status"] == "VALIDATED"


def test_bad_data_fails_validation_with_line_numbers(
    client: TestClient, ft_app: FineTuningApp
) -> None:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
        )
    ] * 11
    lines.insert(3, '{"messages": [{"role": "user", "content": "no answer"}]}')
    (ft_app.files / "bad.jsonl").write_text("\n".join(lines) + "\n")
    bad = ft_app.upload(client, "bad")
    job = wait_for(client, create(client, bad, auto_start=True)["id"], "FAILED_VALIDATION")
    assert statuses(job) == ["QUEUED", "VALIDATING", "FAILED_VALIDATION"]
    assert job["events"][0]["data"]["reasons"] == [
        "line 4: the last message must be from the assistant, not user"
    ]
    assert job["fine_tuned_model"] is None

    dry = client.post(
        "/v1/fine_tuning/jobs?dry_run=true",
        json={"model": "tiny", "training_files": [{"file_id": bad}], "hyperparameters": {}},
    )
    assert dry.status_code == 400
    assert dry.json()["code"] == "invalid_training_data"
    assert "line 4:" in dry.json()["message"]

    good = ft_app.upload(client, "good", lines=20)
    dry = client.post(
        "/v1/fine_tuning/jobs?dry_run=true",
        json={
            "model": "tiny",
            "training_files": [{"file_id": good}],
            "hyperparameters": {"epochs": 2},
        },
    )
    assert dry.status_code == 200
    assert dry.json()["object"] == "job.metadata"
    assert dry.json()["training_steps"] == 10  # 2 epochs of 20 examples, 4 a step

    missing = client.post(
        "/v1/fine_tuning/jobs",
        json={"model": "tiny", "training_files": [{"file_id": "nope"}], "hyperparameters": {}},
    )
    assert missing.status_code == 404
    unknown = client.post(
        "/v1/fine_tuning/jobs",
        json={"model": "nope", "training_files": [{"file_id": good}], "hyperparameters": {}},
    )
    assert unknown.status_code == 404
    wandb = create_raw(
        client, good, integrations=[{"type": "wandb", "project": "p", "api_key": "k"}]
    )
    assert wandb.status_code == 400
    assert client.delete("/v1/models/tiny").status_code == 403


def create_raw(client: TestClient, file_id: str, **fields: Any) -> Any:
    body = {"model": "tiny", "training_files": [{"file_id": file_id}], "hyperparameters": {}}
    return client.post("/v1/fine_tuning/jobs", json={**body, **fields})


def test_cancel_kills_the_trainer(client: TestClient, ft_app: FineTuningApp) -> None:
    train = ft_app.upload(client, "train")
    queued = create(client, train)
    cancelled = client.post(f"/v1/fine_tuning/jobs/{queued['id']}/cancel").json()
    assert cancelled["status"] == "CANCELLED"

    job = create(
        client,
        train,
        auto_start=True,
        hyperparameters={"training_steps": 10_000, "learning_rate": 1e-3},
    )
    wait_for(client, job["id"], "RUNNING")
    response = client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel")
    assert response.json()["status"] == "CANCELLATION_REQUESTED"
    job = wait_for(client, job["id"], "CANCELLED")
    assert statuses(job)[-2:] == ["CANCELLATION_REQUESTED", "CANCELLED"]
    again = client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel")  # harmless
    assert (again.status_code, again.json()["status"]) == (200, "CANCELLED")
    listed = client.get("/v1/fine_tuning/jobs", params={"status": "CANCELLED"}).json()
    assert listed["total"] == 2


def test_a_running_job_resumes_after_a_restart(ft_app: FineTuningApp) -> None:
    with ft_app.client() as client:
        train = ft_app.upload(client, "train")
        job = create(
            client,
            train,
            auto_start=True,
            hyperparameters={"training_steps": 6, "learning_rate": 1e-3},
        )
        wait_for_checkpoint(client, job["id"])
    # The server stopped mid-training: the trainer was killed and the job is still RUNNING.
    with ft_app.client() as client:
        job = wait_for(client, job["id"], "SUCCESS", "FAILED")
    assert job["status"] == "SUCCESS"
    names = [e["name"] for e in reversed(job["events"])]
    assert "resumed" in names and "training-resumed" in names
    steps = sorted(c["step_number"] for c in job["checkpoints"])
    assert steps == [2, 4, 6]


def wait_for_checkpoint(client: TestClient, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if client.get(f"/v1/fine_tuning/jobs/{job_id}").json()["checkpoints"]:
            return
        time.sleep(0.1)
    raise AssertionError("no checkpoint")


@pytest.fixture
def keyed(ft_app: FineTuningApp) -> Iterator[tuple[TestClient, str]]:
    """A client of the app with API keys, files and batch on, as ``autan serve`` runs it; and
    the admin key's secret."""
    tmp = ft_app.tmp_path
    server = Settings(
        engine=EngineSettings(parallel=2, context_per_sequence=256, threads=1),
        data_dir=tmp,
        fine_tuning=ft_app.settings,
        jobs=JobsSettings(poll_seconds=0.1),
    )
    admin: list[str] = []

    def open_platform() -> Platform:
        card = ModelCard(id="tiny", path=ft_app.gguf)
        registry = ModelRegistry([card], LocalLoader(server), max_loaded_memory=1 << 32)
        platform = Platform.open(server, registry, limits=MemoryLimits())
        assert platform.admin_secret is not None
        admin.append(platform.admin_secret)
        return platform

    app = create_app(open_platform)
    with TestClient(app) as client:
        yield client, admin[0]


def test_uploaded_files_train_a_job_with_api_keys(
    ft_app: FineTuningApp, keyed: tuple[TestClient, str]
) -> None:
    """The documented workflow with accounts on: files.upload, then a job on its id."""
    client, admin = keyed
    tmp = ft_app.tmp_path
    sdk = Mistral(api_key=admin, server_url="http://testserver", client=client)
    secret_word_file(tmp / "train.jsonl", 12)
    uploaded = sdk.files.upload(
        file={"file_name": "train.jsonl", "content": (tmp / "train.jsonl").read_bytes()},
        purpose="fine-tune",
    )
    job = sdk.fine_tuning.jobs.create(
        model="tiny",
        training_files=[{"file_id": uploaded.id, "weight": 1}],
        hyperparameters={"training_steps": 2, "learning_rate": 3e-3},
        auto_start=True,
    )
    client.headers["Authorization"] = f"Bearer {admin}"
    done = wait_for(client, job.id, "SUCCESS", "FAILED", "FAILED_VALIDATION")
    assert done["status"] == "SUCCESS", done["events"]
    model = sdk.fine_tuning.jobs.get(job_id=job.id).fine_tuned_model
    assert model is not None
    reply = sdk.chat.complete(model=model, messages=[{"role": "user", "content": "Hi"}])
    assert reply.model == model and reply.usage.completion_tokens > 0
    missing = client.post(
        "/v1/fine_tuning/jobs",
        json={
            "model": "tiny",
            "training_files": [{"file_id": str(uuid.uuid4()), "weight": 1}],
            "hyperparameters": {"training_steps": 1},
        },
    )
    assert missing.status_code == 404


def _holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_private_file_trains_only_its_keys_jobs_and_leaves_no_copy_once_deleted(
    ft_app: FineTuningApp, keyed: tuple[TestClient, str]
) -> None:
    client, admin = keyed
    tmp = ft_app.tmp_path
    mine = {"Authorization": f"Bearer {admin}"}
    # The same workspace, another key.
    colleague = client.post("/v1/admin/api-keys", json={"name": "colleague"}, headers=mine)
    theirs = {"Authorization": f"Bearer {colleague.json()['key']}"}
    data = secret_word_file(tmp / "upload.jsonl", 12).read_bytes()
    needle = b"AUBERGINE"
    (tmp / "upload.jsonl").unlink()
    private = client.post(
        "/v1/files",
        files={"file": ("train.jsonl", data)},
        data={"purpose": "fine-tune", "visibility": "user"},
        headers={"Authorization": f"Bearer {admin}"},
    ).json()
    body = {
        "model": "tiny",
        "training_files": [{"file_id": private["id"], "weight": 1}],
        "hyperparameters": {"training_steps": 1, "learning_rate": 3e-3},
        "auto_start": True,
    }
    for dry_run in (False, True):
        r = client.post(
            "/v1/fine_tuning/jobs", params={"dry_run": dry_run}, json=body, headers=theirs
        )
        assert r.status_code == 404, r.text
        assert r.json()["object"] == "error"

    job = client.post("/v1/fine_tuning/jobs", json=body, headers=mine).json()
    client.headers.update(mine)
    done = wait_for(client, job["id"], "SUCCESS", "FAILED", "FAILED_VALIDATION")
    assert done["status"] == "SUCCESS", done["events"]
    assert client.delete(f"/v1/files/{private['id']}").status_code == 200
    assert _holding(tmp, needle) == []  # neither the blob nor any copy of it
