"""``/v1/batch/jobs`` with the official SDK, over the fake engine: file and inline jobs, the
output and error files, list quirks, cancel, billing at half price, and the clear errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mistralai import Mistral
from mistralai.models import BatchJobOut, SDKError
from sqlalchemy import select

from autan.accounts.audit_log import Actor
from autan.accounts.prices import Price, StaticPrices
from autan.settings import FilesSettings, JobsSettings
from autan.storage.tables import UsageRow
from tests.api.conftest import Platform, platform_app

CHAT = "/v1/chat/completions"
PRICE = Price(input=2.0, output=6.0)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    yield from platform_app(
        tmp_path,
        files=FilesSettings(),
        jobs=JobsSettings(poll_seconds=0.02, batch_concurrency=4),
        prices=StaticPrices({"fake-model": PRICE}),
    )


def sdk(platform: Platform, secret: str | None = None) -> Mistral:
    return Mistral(
        api_key=secret or platform.admin_key, server_url="http://testserver", client=platform.client
    )


def chat_line(custom_id: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "body": {"max_tokens": 5, "messages": [{"role": "user", "content": text}]},
    }


def jsonl(*items: object) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def wait_done(client: Mistral, job_id: str) -> BatchJobOut:
    for _ in range(1000):
        job = client.batch.jobs.get(job_id=job_id)
        if job.status not in ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"batch job {job_id} did not end: {job}")


def run_inline(client: Mistral, lines: int) -> BatchJobOut:
    """A job of ``lines`` inline chat lines, run to its end."""
    job = client.batch.jobs.create(
        requests=[chat_line(str(i), "hi") for i in range(lines)],  # type: ignore[misc]
        endpoint=CHAT,
        model="fake-model",
    )
    return wait_done(client, job.id)


def read_lines(client: Mistral, file_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in client.files.download(file_id=file_id).read().splitlines()]


def test_job_from_a_file_answers_every_line_and_puts_bad_ones_in_the_error_file(
    platform: Platform,
) -> None:
    client = sdk(platform)
    content = (
        jsonl(chat_line("a", "one"), chat_line("b", "two"))
        + b"{not json\n"
        + jsonl({"custom_id": "no-body"}, {"custom_id": "bad", "body": {"messages": "x"}})
    )
    file = client.files.upload(file={"file_name": "in.jsonl", "content": content}, purpose="batch")
    job = client.batch.jobs.create(
        input_files=[file.id], endpoint=CHAT, model="mistral-small-latest", metadata={"team": "x"}
    )
    assert job.status == "QUEUED" and job.total_requests == 5
    job = wait_done(client, job.id)
    assert job.status == "SUCCESS"
    assert (job.succeeded_requests, job.failed_requests, job.completed_requests) == (2, 3, 5)
    assert job.started_at is not None and job.completed_at is not None

    assert job.output_file is not None and job.error_file is not None
    output = read_lines(client, job.output_file)
    assert [line["custom_id"] for line in output] == ["a", "b"]
    for line in output:
        assert line["id"].startswith(f"batch-{job.id[:8]}-")
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == "mistral-small-latest"
        assert body["choices"][0]["message"]["content"] == "Hello"
    errors = {line["custom_id"]: line for line in read_lines(client, job.error_file)}
    assert set(errors) == {"2", "no-body", "bad"}  # a line that is not JSON has only its number
    assert "not valid JSON" in errors["2"]["error"]["message"]
    assert "line 3" in errors["2"]["error"]["message"]
    assert "'body' must be an object" in errors["no-body"]["error"]["message"]
    assert errors["bad"]["response"]["status_code"] == 422
    assert "messages" in errors["bad"]["error"]["message"]
    assert sum(e.count for e in job.errors) == 3

    files = client.files.list(sample_type=["batch_result", "batch_error"]).data
    assert {f.id for f in files} == {job.output_file, job.error_file}
    assert all(f.source == "mistral" for f in files)


def test_inline_requests_and_inline_results(platform: Platform) -> None:
    client = sdk(platform)
    job = client.batch.jobs.create(
        requests=[
            chat_line("x", "hi"),
            {"body": {"max_tokens": 3, "messages": [{"role": "user", "content": "yo"}]}},
        ],  # type: ignore[list-item]
        endpoint=CHAT,
        model="fake-model",
    )
    wait_done(client, job.id)
    job = client.batch.jobs.get(job_id=job.id, inline=True)
    assert job.outputs is not None
    assert [o["custom_id"] for o in job.outputs] == ["x", "1"]
    assert job.outputs[1]["response"]["body"]["choices"][0]["message"]["content"] == "Hel"


def test_lines_the_full_engine_queue_turns_away_are_run_again_not_failed(
    tmp_path: Path,
) -> None:
    # Four slots, one batch line may wait, eight in flight: three are turned away (503) at
    # first, and must still be answered.
    for platform in platform_app(
        tmp_path,
        jobs=JobsSettings(poll_seconds=0.02, batch_concurrency=8),
        max_waiting=1,
        decode_delay=0.01,
    ):
        client = sdk(platform)
        job = run_inline(client, 8)
        assert (job.status, job.succeeded_requests, job.failed_requests) == ("SUCCESS", 8, 0)
        assert job.error_file is None


def test_an_output_file_larger_than_the_upload_limit_is_still_written(tmp_path: Path) -> None:
    for platform in platform_app(
        tmp_path,
        files=FilesSettings(max_upload_bytes=1024),
        jobs=JobsSettings(poll_seconds=0.02),
    ):
        client = sdk(platform)
        job = run_inline(client, 20)
        assert job.status == "SUCCESS" and job.output_file is not None
        assert client.files.retrieve(file_id=job.output_file).size_bytes > 1024
        assert len(read_lines(client, job.output_file)) == 20


def test_a_line_the_endpoint_refuses_gets_its_answer_in_the_error_file(
    platform: Platform,
) -> None:
    client = sdk(platform)
    body = {"model": "fake-model", "prompt": "def f(", "max_tokens": 2}
    job = client.batch.jobs.create(
        requests=[{"custom_id": "f", "body": body}], endpoint="/v1/fim/completions"
    )
    job = wait_done(client, job.id)
    # The fake model has no FIM tokens: the FIM service refuses, as it would over HTTP.
    assert (job.status, job.succeeded_requests, job.failed_requests) == ("SUCCESS", 0, 1)
    assert job.error_file is not None and job.output_file is None
    (line,) = read_lines(client, job.error_file)
    assert line["custom_id"] == "f" and line["response"]["status_code"] == 400
    assert "fill-in-the-middle" in line["error"]["message"]


def test_batch_usage_is_billed_at_half_price_and_not_rate_limited(platform: Platform) -> None:
    _, secret = platform.key(rpm=1, tpm=10)
    client = sdk(platform, secret)
    job = client.batch.jobs.create(
        requests=[chat_line(str(i), "hello") for i in range(3)],  # type: ignore[misc]
        endpoint=CHAT,
        model="fake-model",
    )
    job = wait_done(sdk(platform), job.id)  # polled with the admin key: this one has 1 rpm
    assert job.succeeded_requests == 3  # 3 x 20+ tokens under a 10 tokens/minute key
    with platform.accounts.db.session() as session:
        rows = session.scalars(select(UsageRow).where(UsageRow.batch)).all()
    assert len(rows) == 3
    for row in rows:
        assert row.endpoint == CHAT and row.model == "fake-model" and row.status == 200
        full = PRICE.cost(row.prompt_tokens, row.completion_tokens)
        assert row.completion_tokens == 5
        assert row.cost == pytest.approx(full / 2)


def test_batch_lines_are_in_the_request_log_and_the_rollups_as_batch(
    platform: Platform,
) -> None:
    key, secret = platform.key()
    job = run_inline(sdk(platform, secret), 3)
    assert job.succeeded_requests == 3
    r = platform.client.post(
        "/v1/observability/chat-completion-events/search",
        json={"search_params": {"filters": {"field": "batch_job_id", "op": "eq", "value": job.id}}},
        headers={"Authorization": f"Bearer {secret}"},
    )
    events = r.json()["completion_events"]["results"]
    assert len(events) == 3
    for event in events:
        fields = event["extra_fields"]
        assert fields["api_key_id"] == key.id and fields["endpoint"] == CHAT
        assert fields["status"] == 200 and fields["model"] == "fake-model"
        assert fields["finish_reason"] == "length" and event["nb_output_tokens"] == 5
        assert fields["cost"] > 0
    report = platform.client.get(
        "/v1/admin/usage", headers={"Authorization": f"Bearer {platform.admin_key}"}
    ).json()
    assert report["requests"]["batch"] == 3 and report["requests"]["interactive"] == 0


def test_list_with_the_sdk_query_quirks(platform: Platform) -> None:
    client = sdk(platform)
    _, other_secret = platform.key()
    other = sdk(platform, other_secret)
    first = client.batch.jobs.create(
        requests=[chat_line("0", "a")],
        endpoint=CHAT,
        model="fake-model",
        metadata={"k": "1"},  # type: ignore[list-item]
    )
    second = other.batch.jobs.create(
        requests=[chat_line("0", "b")],
        endpoint=CHAT,
        model="fake-model",
        metadata={"k": "2"},  # type: ignore[list-item]
    )
    wait_done(client, first.id)
    wait_done(client, second.id)
    listed = client.batch.jobs.list()
    assert [j.id for j in listed.data] == [second.id, first.id] and listed.total == 2
    assert [j.id for j in client.batch.jobs.list(order_by="created").data] == [first.id, second.id]
    assert [j.id for j in client.batch.jobs.list(metadata={"k": "2"}).data] == [second.id]
    assert [j.id for j in client.batch.jobs.list(created_by_me=True).data] == [first.id]
    assert client.batch.jobs.list(status=["QUEUED", "RUNNING"]).total == 0
    assert client.batch.jobs.list(status=["SUCCESS"], model="fake-model").total == 2
    page = client.batch.jobs.list(page=1, page_size=1)
    assert [j.id for j in page.data] == [first.id] and page.total == 2


def test_unknown_model_malformed_input_and_wrong_endpoint_are_refused(platform: Platform) -> None:
    client = sdk(platform)

    def refused(**kwargs: Any) -> SDKError:
        with pytest.raises(SDKError) as e:
            client.batch.jobs.create(**kwargs)
        return e.value

    e = refused(requests=[chat_line("0", "a")], endpoint=CHAT, model="nope")
    assert e.status_code == 404 and "Invalid model: nope" in e.body
    e = refused(requests=[{"body": {"model": "nope", "messages": []}}], endpoint=CHAT)
    assert e.status_code == 404
    e = refused(requests=[chat_line("0", "a")], endpoint=CHAT)
    assert e.status_code == 400 and "model" in e.body
    e = refused(requests=[chat_line("0", "a")], endpoint="/v1/ocr", model="fake-model")
    assert e.status_code == 400 and "does not run /v1/ocr" in e.body
    garbage = client.files.upload(
        file={"file_name": "x.jsonl", "content": b"nope\n[1]\n"}, purpose="batch"
    )
    e = refused(input_files=[garbage.id], endpoint=CHAT, model="fake-model")
    assert e.status_code == 400 and "not valid JSON" in e.body and "line 1" in e.body
    tuning = client.files.upload(
        file={"file_name": "t.jsonl", "content": jsonl(chat_line("0", "a"))}, purpose="fine-tune"
    )
    e = refused(input_files=[tuning.id], endpoint=CHAT, model="fake-model")
    assert e.status_code == 400 and "purpose 'batch'" in e.body
    e = refused(endpoint=CHAT, model="fake-model")
    assert e.status_code == 400 and "input_files or requests" in e.body
    assert client.batch.jobs.list().total == 0


def test_jobs_and_input_files_of_another_workspace_are_not_found(platform: Platform) -> None:
    client = sdk(platform)
    file = client.files.upload(
        file={"file_name": "in.jsonl", "content": jsonl(chat_line("0", "a"))}, purpose="batch"
    )
    job = client.batch.jobs.create(input_files=[file.id], endpoint=CHAT, model="fake-model")
    workspace = platform.accounts.workspaces.create(name="other", actor=Actor.command_line())
    _, secret = platform.key(workspace_id=workspace.id)
    other = sdk(platform, secret)
    assert other.batch.jobs.list().total == 0
    for call in (
        lambda: other.batch.jobs.get(job_id=job.id),
        lambda: other.batch.jobs.cancel(job_id=job.id),
        lambda: other.batch.jobs.create(input_files=[file.id], endpoint=CHAT, model="fake-model"),
    ):
        with pytest.raises(SDKError) as e:
            call()
        assert e.value.status_code == 404


def test_cancel(tmp_path: Path) -> None:
    # No runner in this process: the job stays where the API puts it.
    for platform in platform_app(tmp_path, jobs=JobsSettings(enabled=False)):
        client = sdk(platform)
        job = client.batch.jobs.create(
            requests=[chat_line("0", "a")], endpoint=CHAT, model="fake-model"
        )  # type: ignore[list-item]
        cancelled = client.batch.jobs.cancel(job_id=job.id)
        assert cancelled.status == "CANCELLATION_REQUESTED"
        assert client.batch.jobs.cancel(job_id=job.id).status == "CANCELLATION_REQUESTED"
        r = platform.client.delete(
            f"/v1/batch/jobs/{job.id}", headers={"Authorization": f"Bearer {platform.admin_key}"}
        )
        assert r.status_code == 409 and "cancel it" in r.json()["message"]


def test_cancel_of_a_running_job_ends_it_cancelled_and_delete_forgets_it(
    platform: Platform,
) -> None:
    client = sdk(platform)
    platform.backend.decode_delay = 0.005  # the job cannot finish before the cancel arrives
    job = client.batch.jobs.create(
        requests=[chat_line(str(i), "hi") for i in range(400)],  # type: ignore[misc]
        endpoint=CHAT,
        model="fake-model",
    )
    assert client.batch.jobs.cancel(job_id=job.id).status == "CANCELLATION_REQUESTED"
    job = wait_done(client, job.id)
    assert job.status == "CANCELLED"
    assert job.completed_requests < 400
    answered = read_lines(client, job.output_file) if job.output_file else []
    assert len(answered) == job.succeeded_requests
    with pytest.raises(SDKError) as e:
        client.batch.jobs.cancel(job_id=job.id)
    assert e.value.status_code == 409
    auth = {"Authorization": f"Bearer {platform.admin_key}"}
    r = platform.client.delete(f"/v1/batch/jobs/{job.id}", headers=auth)
    assert r.status_code == 200 and r.json() == {"id": job.id, "object": "batch", "deleted": True}
    assert client.batch.jobs.list().total == 0


def test_cancel_stops_the_lines_in_flight_and_queued_in_the_engine(platform: Platform) -> None:
    """Lines that would each decode for minutes: the cancel ends the job without waiting for
    any of them, and leaves the engine no sequence of the job, running or waiting."""
    client = sdk(platform)
    platform.backend.script = b"x" * 600
    platform.backend.decode_delay = 0.2  # a line of 480 tokens decodes for over a minute
    job = client.batch.jobs.create(
        requests=[  # type: ignore[misc]
            {**chat_line(str(i), "hi"), "body": {**chat_line("", "hi")["body"], "max_tokens": 480}}
            for i in range(20)
        ],
        endpoint=CHAT,
        model="fake-model",
    )
    auth = {"Authorization": f"Bearer {platform.admin_key}"}

    def engine() -> dict[str, Any]:
        model: dict[str, Any] = platform.client.get("/health", headers=auth).json()["models"][0]
        return model

    for _ in range(500):
        if engine().get("running"):
            break
        time.sleep(0.02)
    in_flight = engine()["running"]
    assert in_flight > 0
    assert client.batch.jobs.cancel(job_id=job.id).status == "CANCELLATION_REQUESTED"
    ended = wait_done(client, job.id)
    assert ended.status == "CANCELLED"
    assert ended.completed_requests == 0
    for _ in range(500):  # the engine drops cancelled sequences at its next step
        stats = engine()
        if (stats["running"], stats["waiting"]) == (0, 0):
            break
        time.sleep(0.02)
    assert (stats["running"], stats["waiting"]) == (0, 0)
    assert stats["cancelled"] >= in_flight  # none of them ran to its end
