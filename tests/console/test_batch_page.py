"""The Batch jobs page in a real browser (Chromium) against a real ``autan serve`` on the
packaged model: a job created on the page and followed to SUCCESS, its progress moving, its
output and error files downloaded; pasted requests uploaded as a file, and a job cancelled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot, upload

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
# Lines of different lengths finish at different times, so the counts move in steps.
LENGTHS = (1, 4, 12, 24, 40)
BAD_LINE = "this line is not JSON"


def _batch_input() -> bytes:
    lines = [
        json.dumps(
            {
                "custom_id": f"line-{n}",
                "body": {
                    "max_tokens": n,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": "Tell me about the sea."}],
                },
            }
        )
        for n in LENGTHS
    ]
    return "\n".join([*lines, BAD_LINE, ""]).encode()


def _admin(console: Console) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.admin_key}"}


def test_a_batch_job_runs_to_success_with_its_progress_moving(page: Any, console: Console) -> None:
    file_id = upload(console, console.admin_key, "moving.jsonl", _batch_input(), "batch")
    page.get_by_role("link", name="Batch jobs").click()
    page.locator("#batch-file").select_option(file_id)
    page.locator("#batch-model").select_option(MODEL)
    page.locator("#batch-endpoint").select_option("/v1/chat/completions")
    # Every (completed, status) the page shows, recorded as it changes.
    page.evaluate(
        """() => {
            window.seen = [];
            new MutationObserver(() => {
                const row = document.querySelector('#batch-list tbody tr');
                if (!row) return;
                const value = row.querySelector('progress').value;
                const status = row.querySelector('.status').textContent;
                const last = window.seen[window.seen.length - 1];
                if (!last || last[0] !== value || last[1] !== status)
                    window.seen.push([value, status]);
            }).observe(document.getElementById('batch-list'), {subtree: true, childList: true});
        }"""
    )
    page.get_by_role("button", name="Create job").click()
    page.locator("#batch-created code").wait_for()
    job_id = page.locator("#batch-created code").text_content()
    row = page.locator(f"#batch-list tr[data-job-id='{job_id}']")
    row.locator(".status", has_text="SUCCESS").wait_for(timeout=180_000)

    seen = page.evaluate("window.seen")
    total = len(LENGTHS) + 1
    values = [value for value, _ in seen]
    assert values[0] < total and values[-1] == total, seen
    assert len(set(values)) >= 2, seen
    assert seen[-1][1] == "SUCCESS"
    assert row.locator("progress").evaluate("p => p.value / p.max") == 1
    counts = row.locator(".counts").text_content()
    assert f"{total} / {total} ({len(LENGTHS)} succeeded, 1 failed)" == counts
    assert "not valid JSON" in row.locator(".errors").text_content()
    screenshot(page, "batch-jobs")

    with page.expect_download() as download:
        row.get_by_role("button", name="Output").click()
    output = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [line["custom_id"] for line in output] == [f"line-{n}" for n in LENGTHS]
    for line in output:
        assert line["response"]["status_code"] == 200
        assert line["response"]["body"]["choices"][0]["message"]["content"]
    with page.expect_download() as download:
        row.get_by_role("button", name="Errors").click()
    errors = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert len(errors) == 1 and errors[0]["response"]["status_code"] == 400
    assert page.errors == []


def test_pasted_requests_are_uploaded_as_a_file_and_the_job_cancelled(
    page: Any, console: Console
) -> None:
    long = {
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "Write a very long story about a ship."}],
    }
    pasted = "\n".join(json.dumps({"custom_id": str(i), "body": long}) for i in range(8))
    page.get_by_role("link", name="Batch jobs").click()
    page.locator("#batch-model").select_option(MODEL)
    page.locator("#batch-jsonl").fill(pasted)
    markup = "<img src=x onerror=alert(2)>"
    page.locator("#batch-metadata").fill(f"note={markup}")
    page.get_by_role("button", name="Create job").click()
    job_id = page.locator("#batch-created code").text_content()
    row = page.locator(f"#batch-list tr[data-job-id='{job_id}']")
    # The job's metadata is shown as text.
    assert row.locator(".metadata").text_content() == f"note: {markup}"
    assert page.locator("#batch-list img").count() == 0
    row.get_by_role("button", name="Cancel").click()
    row.locator(".status", has_text="CANCELLED").wait_for(timeout=60_000)

    job = httpx.get(f"{console.server.v1}/batch/jobs/{job_id}", headers=_admin(console)).json()
    assert job["status"] == "CANCELLED" and job["total_requests"] == 8
    assert job["metadata"] == {"note": markup}
    pasted_file = httpx.get(
        f"{console.server.v1}/files/{job['input_files'][0]}/content", headers=_admin(console)
    )
    assert pasted_file.text.strip() == pasted
    page.get_by_role("link", name="Files").click()
    page.locator("#file-list tr", has_text="pasted-").first.wait_for()
    assert page.dialogs == []
    assert page.errors == []
